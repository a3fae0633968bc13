"""Sync tests run against the real emulator over loopback HTTP."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from satdescarga import Endpoints, Fiel, SatClient
from satdescarga.client import DownloadType, RequestType
from satdescarga.emulator import Emulator
from satdescarga.emulator.model import Query as EmulatorQuery
from satdescarga.sync.engine import SyncEngine, SyncOptions, SyncSummary
from satdescarga.sync.ledger.sql import SqliteLedger
from satdescarga.sync.plan import Job, month_windows
from satdescarga.sync.run import token_recorder
from satdescarga.sync.store import OutputStore
from satdescarga.vocabulary import ServiceFamily

from ..conftest import TESTS

FIEL_DIR = TESTS / "fixtures" / "sat-test-fiel"
PASSWORD_FILE = FIEL_DIR / "EKU9003173C9-password.txt"
RFC = "EKU9003173C9"
YEAR = datetime.now().year - 1
SINCE, UNTIL = datetime(YEAR, 1, 1), datetime(YEAR, 12, 31, 23, 59, 59)


@pytest.fixture(scope="session")
def fiel() -> Fiel:
    return Fiel.load(
        FIEL_DIR / "EKU9003173C9.cer",
        FIEL_DIR / "EKU9003173C9.key",
        PASSWORD_FILE.read_text().strip(),
    )


def emulator(**options: Any) -> Emulator:
    settings: dict[str, Any] = {
        "accept_delay": 0,
        "process_delay": 0,
        "daily_documents": 2,
        "seed": 7,
    }
    settings.update(options)
    return Emulator(**settings)


@pytest.fixture
def sat() -> Iterator[Emulator]:
    with emulator() as running:
        yield running


def all_jobs(rfc: str = RFC) -> list[Job]:
    return [Job(rfc, "cfdi", d, k) for d in DownloadType for k in RequestType]


def run(
    fiel: Fiel,
    sat: Emulator,
    out: Path,
    jobs: list[Job] | None = None,
    windows: list[tuple[datetime, datetime]] | None = None,
    events: Any = None,
    timeout: tuple[float, float] = (10.0, 120.0),
    ledger: Any = None,
    **options: Any,
) -> SyncSummary:
    ledger = ledger or SqliteLedger(out / ".satdescarga" / "ledger.sqlite")
    client = SatClient(
        fiel,
        Endpoints.local(sat.base_url),
        retry_wait=(0.01, 0.05),
        timeout=timeout,
        on_token=token_recorder(ledger, "cfdi"),
    )
    store = OutputStore(out)
    try:
        settings: dict[str, Any] = {"jobs": 4, "poll_initial": 0.01, "poll_cap": 0.2, **options}
        engine = SyncEngine(
            client,
            ledger,
            store,
            jobs or all_jobs(),
            windows or month_windows(SINCE, UNTIL),
            SyncOptions(out, **settings),
            events,
        )
        return engine.run()
    finally:
        store.close()
        ledger.close()


def expected_uuids(
    sat: Emulator, direction: DownloadType, xml: bool, until: datetime = UNTIL
) -> set[str]:
    """What the emulator's corpus holds for the year (up to `until`): the truth to compare
    with."""
    assert sat.app is not None
    query = EmulatorQuery(
        family=ServiceFamily.CFDI,
        operation="SolicitaDescargaEmitidos" if direction is DownloadType.ISSUED else "Recibidos",
        rfc=RFC,
        request_type="CFDI" if xml else "Metadata",
        direction=direction,
        start=SINCE,
        end=until,
        status="Vigente" if xml and direction is DownloadType.RECEIVED else "Todos",
    )
    now = sat.now().replace(tzinfo=None)
    matches = sat.app.corpus.find(query, now, 10**9)
    return {doc.uuid for doc in sat.app.corpus.documents(matches, 0, matches.count, now)}


def table_uuids(
    out: Path, table: str, column: str | None = None, value: str | None = None
) -> set[str]:
    db = sqlite3.connect(out / "satdescarga.sqlite")
    try:
        sql = f"SELECT uuid FROM {table}" + (f" WHERE {column} = ?" if column else "")
        return {row[0] for row in db.execute(sql, (value,) if column else ())}
    finally:
        db.close()


def xml_files(out: Path, direction: str) -> set[str]:
    return {p.stem for p in (out / RFC / direction).rglob("*.xml")}


def requests_by_criteria(sat: Emulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in sat.stats()["rfcs"].get(RFC, {}).get("requests", []):
        key = repr(sorted(request["criteria"].items()))
        counts[key] = counts.get(key, 0) + 1
    return counts


def downloads(sat: Emulator) -> dict[str, int]:
    return {
        package["id"]: package["downloads"]
        for request in sat.stats()["rfcs"].get(RFC, {}).get("requests", [])
        for package in request["packages"]
    }


def credentials(sat: Emulator) -> list[str]:
    """The CLI options of SAT's test e.firma (its password from a file) against `sat`."""
    return [
        "--cer", str(FIEL_DIR / "EKU9003173C9.cer"),
        "--key", str(FIEL_DIR / "EKU9003173C9.key"),
        "--password-file", str(PASSWORD_FILE),
        "--endpoint-base", sat.base_url,
    ]  # fmt: skip


def issued_shown(
    sat: Emulator, start: datetime, end: datetime, as_of: datetime, status: str = "Todos"
) -> set[str]:
    """UUIDs of the issued documents dated `start`..`end` that SAT shows at `as_of` (Mexico
    City time, naive), with `status` (Todos, Vigente, Cancelado): the truth to compare with."""
    assert sat.app is not None
    query = EmulatorQuery(
        family=ServiceFamily.CFDI,
        operation="SolicitaDescargaEmitidos",
        rfc=RFC,
        request_type="Metadata",
        direction=DownloadType.ISSUED,
        start=start,
        end=end,
        status=status,
    )
    matches = sat.app.corpus.find(query, as_of, 10**9)
    return {doc.uuid for doc in sat.app.corpus.documents(matches, 0, matches.count, as_of)}
