"""Newest answer wins in the fleet's outputs: packages read in reverse order of their snapshots
leave each document as its newest snapshot shows it, with no spurious change; SAT showing a
cancelled document active again is an anomaly; revision 0003 upgrades an older fleet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from satdescarga.client import DownloadType, RequestType
from satdescarga.fleet.database import engine_for, init
from satdescarga.fleet.outputs import PgStore
from satdescarga.sync import documents
from satdescarga.sync.plan import Job

from ..packages.conftest import HEADER, UUID1, UUID2, cfdi40, make_zip, metadata_zip, row

RFC = "AAA010101AAA"
METADATA = Job(RFC, "cfdi", DownloadType.ISSUED, RequestType.METADATA)
XML = Job(RFC, "cfdi", DownloadType.ISSUED, RequestType.XML)
SWEEP = datetime(2025, 3, 1, 18, 0, tzinfo=UTC)
RECHECK = SWEEP + timedelta(days=2)
CANCELLED = row(UUID1, estatus="0", cancelacion="2025-03-02 10:00:00")


def metadata(tmp_path: Path, name: str, *lines: str) -> Path:
    return metadata_zip(tmp_path / f"{name}.zip", "\r\n".join([HEADER, *lines]))


def test_fleet_outputs_keep_the_newest_snapshot_and_record_anomalies(
    fleet_db: str, tmp_path: Path
) -> None:
    engine = engine_for(fleet_db)
    store = PgStore(engine, lambda: RECHECK + timedelta(days=1))
    try:
        store.read(metadata(tmp_path, "recheck", CANCELLED), METADATA, "recheck", RECHECK)
        report = store.read(
            metadata(tmp_path, "sweep", row(UUID1), row(UUID2)), METADATA, "sweep", SWEEP
        )
        assert report.documents == 1 and report.counts == {}
        # XML rows too: the older package's row does not replace the newer one's.
        newer = make_zip(tmp_path / "x2.zip", [(f"{UUID1}.xml", cfdi40(UUID1, total="2.00"))])
        older = make_zip(tmp_path / "x1.zip", [(f"{UUID1}.xml", cfdi40(UUID1, total="1.00"))])
        store.read(newer, XML, "x2", RECHECK)
        assert store.read(older, XML, "x1", SWEEP).documents == 0
        # A snapshot newer than the cancellation that shows it active: an anomaly.
        later = metadata(tmp_path, "later", row(UUID1))
        anomaly = store.read(later, METADATA, "later", RECHECK + timedelta(days=1))
        assert anomaly.counts == {documents.ANOMALY: 1} and anomaly.documents == 0
        again = store.read(later, METADATA, "later", RECHECK + timedelta(days=1))
        assert again.counts == {}  # recorded once
        with engine.connect() as db:
            found = db.execute(text("SELECT uuid, estatus FROM fleet_metadata")).all()
            statuses: dict[str, str] = {uuid: status for uuid, status in found}
            total = db.execute(text("SELECT total, paquete FROM fleet_cfdi")).one()
            changes = db.execute(
                text("SELECT uuid, change, paquete FROM fleet_changes ORDER BY id")
            ).all()
        assert statuses == {UUID1: "Cancelado", UUID2: "Vigente"}
        assert (float(total[0]), total[1]) == (2.0, "x2")
        assert [tuple(c) for c in changes] == [
            (UUID1, documents.APPEARED, "recheck"),
            (UUID2, documents.APPEARED, "sweep"),
            (UUID1, documents.ANOMALY, "later"),
        ]
    finally:
        engine.dispose()


def test_the_third_revision_upgrades_a_fleet_of_the_second(fleet_db: str, tmp_path: Path) -> None:
    engine = engine_for(fleet_db)
    try:
        with engine.begin() as db:
            for table in ("fleet_metadata", "fleet_cfdi"):
                db.execute(text(f"DROP TRIGGER {table}_snapshot ON {table}"))
                db.execute(text(f"ALTER TABLE {table} DROP COLUMN fecha_consulta"))
            db.execute(text("UPDATE fleet_alembic_version SET version_num = '0002'"))
        init(fleet_db)
        with engine.connect() as db:
            assert db.execute(text("SELECT version_num FROM fleet_alembic_version")).scalar() == (
                "0006"
            )
        store = PgStore(engine)
        store.read(metadata(tmp_path, "recheck", CANCELLED), METADATA, "recheck", RECHECK)
        store.read(metadata(tmp_path, "sweep", row(UUID1)), METADATA, "sweep", SWEEP)
        with engine.connect() as db:
            assert db.execute(text("SELECT estatus FROM fleet_metadata")).scalar() == "Cancelado"
    finally:
        engine.dispose()
