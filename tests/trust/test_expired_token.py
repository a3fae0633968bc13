"""Issue 20, item 14: an expired token is not a lost package.

A download that reaches SAT after its token's 5 minutes (the emulator's `late` fault moves its
clock on, deterministically) gets 300 Usuario No Válido. The sync renews the token and
downloads again, each attempt counted in the ledger first; only SAT's 5007/5008 lose a package.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from satdescarga import Endpoints, Fiel, Query, SatClient
from satdescarga.client import RequestType, TokenRejectedError
from satdescarga.emulator import Emulator
from satdescarga.emulator.faults import FaultSpecError, parse_faults
from satdescarga.sync.ledger.sql import SqliteLedger
from satdescarga.sync.plan import Job
from satdescarga.sync.states import PackageState
from satdescarga.vocabulary import DownloadType

from ..sync.conftest import RFC, SINCE, downloads, emulator, issued_shown, run, table_uuids

MARCH = [(SINCE.replace(month=3), SINCE.replace(month=3, day=31, hour=23, minute=59, second=59))]
ISSUED_METADATA = [Job(RFC, "cfdi", DownloadType.ISSUED, RequestType.METADATA)]
LATE = 400  # emulated seconds: more than the token's 300


def ledger_packages(out: Path) -> dict[str, tuple[PackageState, int]]:
    ledger = SqliteLedger(out / ".satdescarga" / "ledger.sqlite", read_only=True)
    try:
        return {p.package_id: (p.state, p.attempts) for p in ledger.packages()}
    finally:
        ledger.close()


def refused(sat: Emulator) -> int:
    return int(sat.stats()["faults_injected"].get("Descargar:late", 0))


def test_a_download_that_outlives_its_token_is_renewed_and_counted(
    fiel: Fiel, tmp_path: Path
) -> None:
    with emulator(faults=f"descargar=late:{LATE}*1") as sat:
        summary = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH)
        assert summary.complete and not summary.lost, summary
        packages = ledger_packages(tmp_path)
        assert [state for state, _ in packages.values()] == [PackageState.READ]
        # Two Descargar calls reached SAT (one refused, one served): the ledger counted both.
        assert refused(sat) == 1 and sum(downloads(sat).values()) == 1
        assert [attempts for _, attempts in packages.values()] == [2]
        assert table_uuids(tmp_path, "metadata") == expected_uuids_march(sat)


def test_a_token_refused_twice_is_pending_never_lost(fiel: Fiel, tmp_path: Path) -> None:
    with emulator(faults=f"descargar=late:{LATE}*2") as sat:
        first = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH)
        # Not lost, its window not asked for again: the package waits for the next run.
        assert not first.needs_attention and not first.recovered, first
        assert not first.complete and first.pending == list(ledger_packages(tmp_path))
        ((state, attempts),) = ledger_packages(tmp_path).values()
        assert state is PackageState.TO_DOWNLOAD and attempts == 2
        second = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH)
        assert second.complete, second
        assert refused(sat) == 2 and sum(downloads(sat).values()) == 1
        assert len(sat.stats()["rfcs"][RFC]["requests"]) == 1  # one request, never repeated
        assert table_uuids(tmp_path, "metadata") == expected_uuids_march(sat)


def expected_uuids_march(sat: Emulator) -> set[str]:
    """The issued documents SAT has for March (the truth to compare with)."""
    ((start, end),) = MARCH
    now = sat.now().replace(tzinfo=None)
    return issued_shown(sat, start, end, now)


def test_sat_failing_on_a_download_is_retried_not_a_lost_package(
    fiel: Fiel, tmp_path: Path
) -> None:
    """CodEstatus 404 "Error no controlado" on Descargar is SAT failing, not the package gone."""
    with emulator(faults="descargar=error404*1") as sat:
        summary = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH, poll_initial=0.01)
        assert summary.complete and not summary.recovered, summary
        assert [state for state, _ in ledger_packages(tmp_path).values()] == [PackageState.READ]
        assert len(sat.stats()["rfcs"][RFC]["requests"]) == 1  # its window not asked again


def test_the_client_renews_a_refused_token_unless_the_caller_counts_attempts(
    fiel: Fiel, tmp_path: Path
) -> None:
    """The library's default: one renewal, unnoticed. `renew_token=False` (what the sync uses):
    the refusal is the caller's to count and retry."""
    (start, end) = MARCH[0]
    with emulator(faults=f"descargar=late:{LATE}*1") as sat:
        client = SatClient(fiel, Endpoints.local(sat.base_url), retry_wait=(0.01, 0.05))
        asked = client.query(Query(start=start, end=end))
        package_id = ""
        for _ in range(200):
            verified = client.verify(asked.request_id or "")
            if verified.package_ids:
                package_id = verified.package_ids[0]
                break
        assert package_id
        assert client.download(package_id, tmp_path / "a.zip").path == tmp_path / "a.zip"
        assert refused(sat) == 1
        sat.set_faults(f"descargar=late:{LATE}*1")
        with pytest.raises(TokenRejectedError, match="300"):
            client.download(package_id, tmp_path / "b.zip", renew_token=False)
        assert not (tmp_path / "b.zip").exists() and sum(downloads(sat).values()) == 1


def test_late_needs_its_seconds() -> None:
    assert parse_faults("descargar=late:400*2")[0].spec == "descargar=late:400*2"
    with pytest.raises(FaultSpecError, match="late needs its delay"):
        parse_faults("descargar=late")
