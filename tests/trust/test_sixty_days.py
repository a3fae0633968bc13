"""The proof of unattended operation: 60 emulated days of `sync --no-wait` run on a schedule
(three times a day), some runs killed with SIGKILL mid-way, a multi-day outage of SAT; after
every run no document's status is older than the newest snapshot the ledger read for it and
nothing was ever `reactivado`; at the end the local tables equal the emulator's corpus,
cancellations included, and SAT's limits were never overspent.

CI runs 30 days (the outage, four kills and four weekly rechecks fall within them);
SATDESCARGA_TRUST_DAYS=60 runs the whole proof."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from satdescarga.cli import main
from satdescarga.clock import ENV, to_local
from satdescarga.emulator import Emulator
from satdescarga.emulator.model import Query as EmulatorQuery
from satdescarga.packages import PackageKind, open_package, package_rows
from satdescarga.sync import documents
from satdescarga.sync.ledger.sql import SqliteLedger
from satdescarga.sync.states import PackageState, WindowPurpose, WindowState
from satdescarga.sync.store import snapshot_of
from satdescarga.vocabulary import DownloadType, ServiceFamily

from ..sync.conftest import RFC, credentials, emulator

START = datetime(2025, 1, 1, 12, 0)  # UTC
SINCE = datetime(2025, 1, 1)
DAYS, RUNS_PER_DAY = int(os.environ.get("SATDESCARGA_TRUST_DAYS", "30")), 3
KILLED = {7, 31, 64, 83, 101, 150}  # runs (by number) started as a process and SIGKILLed
# Run n happens (n + 1) x 8 h after START; SAT is down from day 20 to day 23.
OUTAGE = range(20 * RUNS_PER_DAY - 1, 23 * RUNS_PER_DAY - 1)


def sync_args(sat: Emulator, out: Path, *extra: str) -> list[str]:
    options = ["--out", str(out), "--poll", "0.01", "--poll-cap", "0.05", "--no-wait"]
    return ["sync", *credentials(sat), *options, "--since", f"{SINCE:%Y-%m-%d}", *extra]


def killed_run(sat: Emulator, out: Path, rng: random.Random) -> None:
    """A run started as its own process (as cron would) and killed at a random moment."""
    assert sat.app is not None
    env = {**os.environ, ENV: sat.app.clock.spec}
    process = subprocess.Popen(
        [sys.executable, "-m", "satdescarga", *sync_args(sat, out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(rng.uniform(0.3, 1.5))
    process.send_signal(signal.SIGKILL)
    process.wait()


def corpus(
    sat: Emulator, direction: DownloadType, xml: bool, end: datetime, now: datetime
) -> dict[str, bool]:
    """UUID -> cancelled, of the documents SAT shows at `now`, dated from SINCE to `end`."""
    assert sat.app is not None
    query = EmulatorQuery(
        family=ServiceFamily.CFDI,
        operation="SolicitaDescargaEmitidos" if direction is DownloadType.ISSUED else "Recibidos",
        rfc=RFC,
        request_type="CFDI" if xml else "Metadata",
        direction=direction,
        start=SINCE,
        end=end,
        status="Vigente" if xml and direction is DownloadType.RECEIVED else "Todos",
    )
    matches = sat.app.corpus.find(query, now, 10**9)
    return {
        doc.uuid: doc.cancelled for doc in sat.app.corpus.documents(matches, 0, matches.count, now)
    }


def rows(out: Path, sql: str) -> list[Any]:
    db = sqlite3.connect(out / "satdescarga.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


class Snapshots:
    """What the ledger's read metadata packages say of each document: its newest snapshot (the
    moment its request was sent) and the status SAT gave then. Each package is opened once."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.seen: set[str] = set()
        self.newest: dict[str, tuple[str, str | None]] = {}

    def check(self) -> None:
        """No document's status is older than the newest snapshot the ledger read for it, and
        no `reactivado` change exists."""
        path = self.out / ".satdescarga" / "ledger.sqlite"
        if not (self.out / "satdescarga.sqlite").exists() or not path.exists():
            return
        read = (  # plain SQL: opening the ledger (its migrations checked) costs more
            "SELECT p.package_id, p.path, r.sent_at FROM packages p "
            "JOIN requests r ON r.id = p.request_row WHERE p.state = ?"
        )
        db = sqlite3.connect(path)
        try:
            packages = db.execute(read, (PackageState.READ.value,)).fetchall()
        finally:
            db.close()
        for package_id, package_path, sent_at in packages:
            if package_id in self.seen or package_path is None:
                continue
            self.seen.add(package_id)
            taken = snapshot_of(datetime.fromisoformat(sent_at))
            assert taken is not None
            with open_package(Path(package_path)) as opened:
                if opened.kind is not PackageKind.METADATA:
                    continue
                for row in package_rows(opened):
                    uuid, status = str(row[0]), row[11]
                    if uuid not in self.newest or self.newest[uuid][0] <= taken:
                        self.newest[uuid] = (taken, None if status is None else str(status))
        table = {
            uuid: (status, taken)
            for uuid, status, taken in rows(
                self.out, "SELECT uuid, estatus, fecha_consulta FROM metadata"
            )
        }
        for uuid, (taken, status) in self.newest.items():
            kept_status, kept_taken = table[uuid]
            assert kept_taken >= taken, (uuid, kept_taken, taken)
            if kept_taken == taken:
                assert kept_status == status, (uuid, kept_status, status)
        reactivated = "SELECT uuid FROM document_changes WHERE change = 'reactivado'"
        assert rows(self.out, reactivated) == []


def test_sixty_days_unattended_equal_the_corpus(tmp_path: Path) -> None:
    rng = random.Random(13)
    out = tmp_path / "facturas"
    snapshots = Snapshots(out)
    codes: Counter[int] = Counter()
    outage = (to_local(START) + timedelta(days=20), to_local(START) + timedelta(days=23))
    with emulator(
        start=START,
        clock_speed=1e-6,  # time moves only when the test says so
        latency="realistic",  # minutes, hours, days; some stuck, then rejected
        certification_lag=72,  # documents appear up to three days after their date
        outages=(outage,),
        last_document=to_local(START) + timedelta(days=DAYS),
    ) as sat:
        assert sat.app is not None
        runner = CliRunner()
        for number in range(DAYS * RUNS_PER_DAY):
            sat.advance(hours=24 / RUNS_PER_DAY)
            if number in KILLED:
                killed_run(sat, out, rng)
                snapshots.check()
                continue
            runner.env = {ENV: sat.app.clock.spec}
            result = runner.invoke(main, sync_args(sat, out))
            codes[result.exit_code] += 1
            assert result.exit_code in (0, 1, 4, 5), result.output
            if result.exit_code == 1:  # only a view the outage made stale: said, nothing lost
                assert "ATRASADA" in result.output and number > max(OUTAGE), result.output
            if number in OUTAGE:
                assert result.exit_code == 4, result.output
            snapshots.check()
        # The corpus stops growing: a week more settles everything (stuck requests are
        # recovered after the horizon), then one last run rechecks everything at once.
        final_day = to_local(sat.app.clock.now())
        for _ in range(7 * RUNS_PER_DAY):
            sat.advance(hours=24 / RUNS_PER_DAY)
            runner.env = {ENV: sat.app.clock.spec}
            assert runner.invoke(main, sync_args(sat, out)).exit_code in (0, 5)
            snapshots.check()
        runner.env = {ENV: sat.app.clock.spec}
        recheck = runner.invoke(main, sync_args(sat, out, "--recheck-every", "0"))
        assert recheck.exit_code in (0, 5), recheck.output
        snapshots.check()
        now = to_local(sat.app.clock.now())  # the recheck's "now": statuses as of then
        for _ in range(12):  # SAT prepares the recheck in minutes to days: later runs collect it
            sat.advance(hours=12)
            runner.env = {ENV: sat.app.clock.spec}
            last = runner.invoke(main, sync_args(sat, out, "--sweep-every", "1000"))
            snapshots.check()
            if last.exit_code == 0:
                break
        assert last.exit_code == 0, last.output
        settled = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0) - timedelta(
            seconds=1
        )

        # Metadata: every document SAT shows, with SAT's status of now.
        metadata = {u: s == "Cancelado" for u, s in rows(out, "SELECT uuid, estatus FROM metadata")}
        truth = corpus(sat, DownloadType.ISSUED, False, now, now) | corpus(
            sat, DownloadType.RECEIVED, False, now, now
        )
        assert metadata == truth
        # XML: every document of the settled days SAT hands out as XML.
        xml = {u for (u,) in rows(out, "SELECT uuid FROM cfdi")}
        expected_xml = set(corpus(sat, DownloadType.ISSUED, True, settled, now)) | set(
            corpus(sat, DownloadType.RECEIVED, True, settled, now)
        )
        assert expected_xml <= xml
        report = CliRunner().invoke(main, ["report", "--out", str(out), "--json"])
        assert report.exit_code == 0, report.output
        lines = [json.loads(line) for line in report.stdout.splitlines()]
        assert sum(line["metadata"] for line in lines) == len(truth)
        settled_lines = [line for line in lines if line["month"] <= f"{settled:%Y-%m}"]
        assert settled_lines and all(line["active_without_xml"] == 0 for line in settled_lines)
        assert (
            documents.missing_xml(
                out / "satdescarga.sqlite", RFC, DownloadType.ISSUED, [(SINCE, settled)]
            )
            == []
        )
        # `changes`: each cancellation once — a document seen active, then cancelled.
        history = documents.changes(out / "satdescarga.sqlite")
        cancelled_later = {c.uuid for c in history if c.change == documents.CANCELLED}
        appeared = {c.uuid: c.status for c in history if c.change == documents.APPEARED}
        assert cancelled_later and all(appeared[u] == "Vigente" for u in cancelled_later)
        assert {u for u, c in truth.items() if c} == cancelled_later | {
            u for u, s in appeared.items() if s == "Cancelado"
        }
        assert len(cancelled_later) == len(
            [c for c in history if c.change == documents.CANCELLED]
        )  # once each
        # SAT's limits: XML criteria at most twice; a package downloaded at most as SAT allows,
        # and the ledger counted every download SAT counted.
        stats = sat.stats()["rfcs"][RFC]["requests"]
        xml_criteria = Counter(
            repr(sorted(r["criteria"].items()))
            for r in stats
            if r["criteria"].get("tipo") == "CFDI"
        )
        assert max(xml_criteria.values(), default=0) <= 2
        sat_downloads = {p["id"]: p["downloads"] for r in stats for p in r["packages"]}
        ledger = SqliteLedger(out / ".satdescarga" / "ledger.sqlite")
        try:
            counted = {p.package_id: p.attempts for p in ledger.packages()}
            folios = [w for w in ledger.windows() if w.purpose is WindowPurpose.FOLIO]
            failed = [w for w in ledger.windows() if w.state is WindowState.FAILED]
        finally:
            ledger.close()
        assert all(n <= 2 for n in sat_downloads.values())
        assert all(counted.get(p, 0) >= n for p, n in sat_downloads.items())
        assert failed == [] and folios == []
    # Runs every 8 h, sweeps every 6 h: with the clock frozen between runs, each run leaves
    # its new sweep with SAT (5) until the end; 1 only for the views stale after the outage.
    assert codes[4] == len(set(OUTAGE) - KILLED) and codes[5] > 0, codes
    assert codes[1] <= 3 * RUNS_PER_DAY, codes
    assert final_day < now
