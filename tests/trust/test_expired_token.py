"""Issue 20, item 14: an expired token is not a lost package.

A download that reaches SAT after its token's 5 minutes (the emulator's `late` fault moves its
clock on, deterministically) gets 300 Usuario No Válido. The sync renews the token and
downloads again, each attempt counted in the ledger first; only SAT's 5007/5008 lose a package.
"""

from __future__ import annotations

from pathlib import Path

from satdescarga import Fiel
from satdescarga.client import RequestType
from satdescarga.emulator import Emulator
from satdescarga.emulator.model import Query as EmulatorQuery
from satdescarga.sync.ledger import SqliteLedger
from satdescarga.sync.plan import Job
from satdescarga.sync.states import PackageState
from satdescarga.vocabulary import DownloadType, ServiceFamily

from ..sync.conftest import RFC, SINCE, downloads, emulator, run, table_uuids

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
    assert sat.app is not None
    ((start, end),) = MARCH
    query = EmulatorQuery(
        family=ServiceFamily.CFDI,
        operation="SolicitaDescargaEmitidos",
        rfc=RFC,
        request_type="Metadata",
        direction=DownloadType.ISSUED,
        start=start,
        end=end,
        status="Todos",
    )
    now = sat.now().replace(tzinfo=None)
    matches = sat.app.corpus.find(query, now, 10**9)
    return {doc.uuid for doc in sat.app.corpus.documents(matches, 0, matches.count, now)}
