"""Newest answer wins: a package is a snapshot of SAT as of its request; the outputs keep, per
document, the newest snapshot whatever order the packages are read in, and SAT never un-cancels
(a newer `Vigente` after a `Cancelado` is an anomaly, recorded and reported, not applied)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from click.testing import CliRunner

from satdescarga.cli import main
from satdescarga.client import DownloadType, RequestType
from satdescarga.packages import METADATA_TABLE, SNAPSHOT, SqliteWriter, Table
from satdescarga.sync import documents
from satdescarga.sync.downloads import Downloads
from satdescarga.sync.ledger.sql import SqliteLedger
from satdescarga.sync.plan import Job
from satdescarga.sync.run import NoEvents, Run, SyncOptions
from satdescarga.sync.states import PackageState, RequestOutcome
from satdescarga.sync.store import DATABASE, OutputStore

from ..packages.conftest import HEADER, UUID1, UUID2, cfdi40, make_zip, metadata_zip, row

RFC = "AAA010101AAA"
JOB = Job(RFC, "cfdi", DownloadType.ISSUED, RequestType.METADATA)
SWEEP = datetime(2025, 3, 1, 18, 0, tzinfo=UTC)  # before the cancellation
RECHECK = SWEEP + timedelta(days=2)  # after it
CANCELLED = row(UUID1, estatus="0", cancelacion="2025-03-02 10:00:00")


def package(tmp_path: Path, name: str, *lines: str) -> Path:
    return metadata_zip(tmp_path / f"{name}.zip", "\r\n".join([HEADER, *lines]))


def statuses(out: Path) -> dict[str, str]:
    db = sqlite3.connect(out / DATABASE)
    try:
        return dict(db.execute("SELECT uuid, estatus FROM metadata").fetchall())
    finally:
        db.close()


def kinds(out: Path) -> list[tuple[str, str]]:
    return [(c.uuid, c.change) for c in documents.changes(out / DATABASE)]


def test_an_older_sweep_read_after_a_newer_recheck_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sweep = package(tmp_path, "sweep", row(UUID1), row(UUID2))
    recheck = package(tmp_path, "recheck", CANCELLED)
    store = OutputStore(out)
    # The recheck (newer snapshot) arrives first, the sweep made before it arrives after.
    assert store.read(recheck, JOB, "recheck", RECHECK).documents == 1
    report = store.read(sweep, JOB, "sweep", SWEEP)
    assert report.documents == 1  # UUID2 only: UUID1's older row is not applied
    assert statuses(out) == {UUID1: "Cancelado", UUID2: "Vigente"}
    assert kinds(out) == [(UUID1, documents.APPEARED), (UUID2, documents.APPEARED)]
    db = sqlite3.connect(out / DATABASE)
    try:
        kept = db.execute("SELECT paquete, fecha_consulta FROM metadata WHERE uuid = ?", (UUID1,))
        assert kept.fetchone() == ("recheck", "2025-03-03 12:00:00.000")  # Mexico City time
    finally:
        db.close()
    # In the order of the snapshots the same packages give the same statuses, and the history.
    again = tmp_path / "again"
    store = OutputStore(again)
    store.read(sweep, JOB, "sweep", SWEEP)
    store.read(recheck, JOB, "recheck", RECHECK)
    assert statuses(again) == statuses(out)
    assert (UUID1, documents.CANCELLED) in kinds(again)
    assert documents.REACTIVATED not in {kind for _, kind in kinds(out) + kinds(again)}


def test_a_newer_active_after_a_cancellation_is_an_anomaly_not_applied(tmp_path: Path) -> None:
    out = tmp_path / "out"
    store = OutputStore(out)
    store.read(package(tmp_path, "early", CANCELLED), JOB, "early", SWEEP)
    report = store.read(package(tmp_path, "late", row(UUID1)), JOB, "late", RECHECK)
    assert report.counts == {documents.ANOMALY: 1} and report.documents == 0
    assert statuses(out) == {UUID1: "Cancelado"}
    assert kinds(out) == [(UUID1, documents.APPEARED), (UUID1, documents.ANOMALY)]
    # Reading the package again (a crash repaired) records it once.
    store.read(package(tmp_path, "late", row(UUID1)), JOB, "late", RECHECK)
    assert kinds(out)[-1:] == [(UUID1, documents.ANOMALY)] and len(kinds(out)) == 2
    # The same pair seen the other way round (the older cancelled snapshot read last).
    other = tmp_path / "other"
    store = OutputStore(other)
    store.read(package(tmp_path, "late", row(UUID1)), JOB, "late", RECHECK)
    assert store.read(package(tmp_path, "early", CANCELLED), JOB, "early", SWEEP).counts == {
        documents.ANOMALY: 1
    }
    assert kinds(other) == [(UUID1, documents.APPEARED), (UUID1, documents.ANOMALY)]
    # `changes` lists it.
    listed = CliRunner().invoke(main, ["changes", "--out", str(out), "--format", "csv"])
    assert listed.exit_code == 0, listed.output
    assert f"{UUID1},{documents.ANOMALY},Cancelado,Vigente" in listed.output


def test_outputs_of_an_older_release_gain_the_snapshot_column(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    old = Table("metadata", tuple(c for c in METADATA_TABLE.columns if c.name != SNAPSHOT))
    SqliteWriter(old, out / DATABASE).close()
    db = sqlite3.connect(out / DATABASE)
    try:
        db.execute(
            "INSERT INTO metadata (uuid, estatus, paquete) VALUES (?, 'Vigente', 'v1')", (UUID1,)
        )
        db.commit()
    finally:
        db.close()
    store = OutputStore(out)
    store.read(package(tmp_path, "recheck", CANCELLED), JOB, "recheck", RECHECK)
    assert statuses(out) == {UUID1: "Cancelado"}  # a row without a snapshot is the oldest


def _finished(ledger: SqliteLedger, window_id: int, name: str) -> int:
    row = ledger.begin_request(window_id, name, {"criteria": name})
    ledger.answer_request(row, f"ID-{name}", "5000", "Solicitud Aceptada", RequestOutcome.POLLING)
    return row


def _downloaded(ledger: SqliteLedger, row: int, package_id: str, path: Path) -> None:
    ledger.record_verify(
        row, 3, "5000", 1, "5000", "", RequestOutcome.FINISHED, None, (package_id,)
    )
    ledger.begin_download(package_id)
    ledger.downloaded(package_id, path.stat().st_size, "0" * 64, str(path))


def test_a_sync_reading_packages_in_reverse_order_of_their_requests(tmp_path: Path) -> None:
    """A sweep sent before a cancellation whose package arrives after the newer recheck's:
    the sync's reader (the ledger's `sent_at` as each row's snapshot) keeps the cancellation;
    a later answer showing it active is an anomaly that `status` reports."""
    out = tmp_path / "out"
    path = out / ".satdescarga" / "ledger.sqlite"
    ledger = SqliteLedger(path)
    window = ledger.window(JOB.key, datetime(2025, 3, 1), datetime(2025, 3, 31, 23, 59, 59))
    rows = {name: _finished(ledger, window.id, name) for name in ("sweep", "recheck", "late")}
    ledger.close()
    db = sqlite3.connect(path)  # sent a day apart, in this order
    for day, row_id in enumerate(rows.values()):
        sent = (SWEEP + timedelta(days=day)).isoformat(timespec="milliseconds")
        db.execute("UPDATE requests SET sent_at = ? WHERE id = ?", (sent, row_id))
    db.commit()
    db.close()
    zips = {
        "recheck": package(tmp_path, "recheck", CANCELLED),
        "sweep": package(tmp_path, "sweep", row(UUID1), row(UUID2)),
        "late": package(tmp_path, "late", row(UUID1)),
    }
    ledger = SqliteLedger(path)
    try:
        run = Run(
            cast(Any, None),  # reading needs no SAT
            ledger,
            OutputStore(out),
            {JOB.key: JOB},
            SyncOptions(out),
            NoEvents(),
            lambda: datetime.now(UTC),
        )
        for name in ("recheck", "sweep"):  # the recheck's package arrives first
            _downloaded(ledger, rows[name], name.upper(), zips[name])
            Downloads(run).read_downloaded()
        assert statuses(out) == {UUID1: "Cancelado", UUID2: "Vigente"}
        assert kinds(out) == [(UUID1, documents.APPEARED), (UUID2, documents.APPEARED)]
        _downloaded(ledger, rows["late"], "LATE", zips["late"])
        Downloads(run).read_downloaded()
        assert statuses(out)[UUID1] == "Cancelado"
        assert kinds(out)[-1] == (UUID1, documents.ANOMALY)
        read = {p.package_id: p.issue_counts for p in ledger.packages(state=PackageState.READ)}
        assert read == {"RECHECK": {}, "SWEEP": {}, "LATE": {documents.ANOMALY: 1}}
    finally:
        ledger.close()
    shown = CliRunner().invoke(main, ["status", "--out", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "anomalías (el SAT mostró vigente un CFDI cancelado" in shown.output


def test_xml_rows_keep_the_newest_snapshot_too(tmp_path: Path) -> None:
    out = tmp_path / "out"
    job = Job(RFC, "cfdi", DownloadType.ISSUED, RequestType.XML)
    store = OutputStore(out)
    newer = make_zip(tmp_path / "x2.zip", [(f"{UUID1}.xml", cfdi40(UUID1, total="2.00"))])
    older = make_zip(tmp_path / "x1.zip", [(f"{UUID1}.xml", cfdi40(UUID1, total="1.00"))])
    assert store.read(newer, job, "x2", RECHECK).documents == 1
    assert store.read(older, job, "x1", SWEEP).documents == 0
    db = sqlite3.connect(out / DATABASE)
    try:
        kept = db.execute("SELECT total, paquete, fecha_consulta FROM cfdi").fetchall()
    finally:
        db.close()
    assert kept == [(2, "x2", "2025-03-03 12:00:00.000")]
