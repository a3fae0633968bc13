"""A step never moves a package between machines: a package a step downloads is read in that
same step, so a rerun elsewhere never needs its file. Only a step cut between a download and its
read leaves one behind on the machine's spool; rerun on another machine (another --spool here),
the ledger's count of SAT's two downloads decides: downloaded once more, or taken for lost and
its period asked for again. Either is said (a log line, a metric), and nothing is downloaded a
third time. The cut is made right after the ledger records the download, as a SIGKILL there
would leave it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from satdescarga.emulator import Emulator
from satdescarga.fleet import taxpayers
from satdescarga.fleet.fielcache import FielCache
from satdescarga.fleet.metrics import Metrics
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.step import StepResult, Worker, run_step
from satdescarga.fleet.vault import FielFiles, MasterKey
from satdescarga.sync.ledger.sql import SqlLedger
from satdescarga.sync.states import PackageState

from .conftest import issued_fiel
from .test_metrics import parsed, value
from .test_steps import START, make_worker


class StepCut(Exception):  # noqa: N818 (what happened, as a SIGKILL would)
    pass


class CutAfterDownload(Metrics):
    """The worker's metrics; the step is cut right after the download of `package` (the first
    package downloaded, if None) is recorded in the ledger."""

    def __init__(self, package: str | None = None) -> None:
        super().__init__()
        self.package = package
        self.armed = True

    def emit(self, event: str, **fields: Any) -> None:
        super().emit(event, **fields)
        downloaded = event == "download" and not fields.get("on_disk")
        if downloaded and self.armed and self.package in (None, fields["package"]):
            self.armed = False
            self.package = fields["package"]
            raise StepCut(self.package)


def downloads(sat: Emulator, rfc: str) -> dict[str, int]:
    stats = sat.stats()["rfcs"][rfc]["requests"]
    return {p["id"]: p["downloads"] for r in stats for p in r["packages"]}


def on_machine(worker: Worker, spool: Path, events: Metrics) -> Worker:
    other = Worker(**{**worker.__dict__, "spool": spool, "events": events, "fiels": FielCache()})
    other.parallel = 1
    return other


def test_a_package_left_on_one_machine_is_downloaded_once_more_or_lost_never_a_third_time(
    fleet_db: str,
    master_key: MasterKey,
    issued: dict[str, FielFiles],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=2, seed=7) as sat:  # fmt: skip
        base = make_worker(fleet_db, master_key, sat, tmp_path / "a")
        rfc = "FLT010101MQ1"
        files = issued_fiel(issued, tmp_path / "fiel", rfc)
        taxpayers.add(base.engine, master_key, files, Policy(since="2025-03-05"), now=START)
        ledger = SqlLedger(base.engine, migrate=False)

        first = CutAfterDownload()  # machine A downloads a package, then the step is cut
        with pytest.raises(StepCut):
            run_step(on_machine(base, tmp_path / "a", first), rfc)
        package = first.package
        assert package is not None and downloads(sat, rfc)[package] == 1
        assert (tmp_path / "a" / rfc / "paquetes" / f"{package}.zip").is_file()
        (tmp_path / "a").rename(tmp_path / "disco-de-a")  # A's disk: not seen by B or C

        second = CutAfterDownload(package)  # machine B: SAT allows one more download of it
        with caplog.at_level(logging.WARNING, "satdescarga.fleet"), pytest.raises(StepCut):
            run_step(on_machine(base, tmp_path / "b", second), rfc)
        assert f"paquete {package} de {rfc}: se descargó en otra máquina (u otra" in caplog.text
        assert "se descarga de nuevo (la segunda y última descarga" in caplog.text
        samples = parsed(generate_latest(second.registry).decode())
        assert value(samples, "satdescarga_packages_elsewhere_total",
                     outcome="descarga_de_nuevo") == 1  # fmt: skip
        assert downloads(sat, rfc)[package] == 2
        (tmp_path / "b").rename(tmp_path / "disco-de-b")

        caplog.clear()  # machine C: both downloads spent: lost, said, its period asked again
        third = Metrics()
        machine_c = on_machine(base, tmp_path / "c", third)
        with caplog.at_level(logging.WARNING, "satdescarga.fleet"):
            results = [run_step(machine_c, rfc) for _ in range(3)]
        assert "ya se descargó dos veces (el límite del SAT): se da por perdido" in caplog.text
        samples = parsed(generate_latest(third.registry).decode())
        assert value(samples, "satdescarga_packages_elsewhere_total", outcome="perdido") == 1
        (lost,) = ledger.packages(state=PackageState.LOST)
        assert lost.package_id == package
        assert downloads(sat, rfc)[package] == 2  # never a third time
        assert max(downloads(sat, rfc).values()) <= 2
        assert results[-1] is StepResult.CURRENT, taxpayers.get(base.engine, rfc)
        # Every step read what it downloaded: nothing is left downloaded and unread, and C's
        # spool is empty again.
        assert not ledger.packages(state=PackageState.DOWNLOADED)
        assert not (tmp_path / "c" / rfc).exists()
        base.engine.dispose()
