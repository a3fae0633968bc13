"""The fleet's outputs in PostgreSQL: a `PackageStore` (sync.run) that every worker shares.

A package is read in one transaction: its rows go with COPY into a temporary table, then into
`fleet_metadata` or `fleet_cfdi` with one upsert keyed by (taxpayer, direction, UUID) (a
re-read after a crash changes nothing; a CFDI the taxpayer issued to itself is kept in both
directions). A CFDI package's XML goes to `fleet_xml` in the same transaction:
zlib-compressed from a spool file (one connection holds one COPY at a time), or, when the
fleet keeps XML in a shared directory (xmldir.py), as the path of a file written and fsynced
before the commit. The triggers of the fleet's first revision record what appeared or changed
status in `fleet_changes`, stamped with the business time set here. Each row carries the
moment of its snapshot (`fecha_consulta`: when its request was sent); the triggers of revision
0003 ignore an older snapshot and keep a cancelled document cancelled (an `anomalia` change).
The ledger marks the package read only after the commit.
"""

from __future__ import annotations

import struct
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, text

from satdescarga.clock import Clock, to_local, wall_clock
from satdescarga.fleet.schema import fleet_cfdi, fleet_metadata
from satdescarga.fleet.xmldir import SharedXmlDir, XmlDirError
from satdescarga.packages import (
    METADATA_TABLE,
    CfdiDocument,
    PackageKind,
    XmlExtractor,
    open_package,
    package_rows,
    table_for,
)
from satdescarga.sync.documents import ACTIVE, ANOMALY, DocumentTotals
from satdescarga.sync.plan import Job
from satdescarga.sync.store import ReadReport, snapshot_of
from satdescarga.vocabulary import DownloadType

SPOOL_IN_MEMORY = 32 * 1024 * 1024  # compressed XML held in memory before spilling to disk
_RECORD = struct.Struct("!36sII")  # uuid, size, compressed length


class _XmlSpool(XmlExtractor):
    """Takes each CFDI of a package (compressed) until the rows are in; then COPY."""

    def __init__(self) -> None:  # no folder: nothing is written to the file system
        self.written = 0
        self.spool: IO[bytes] = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115

    def write_document(self, document: CfdiDocument) -> Path:
        packed = zlib.compress(document.xml, 6)
        self.spool.write(
            _RECORD.pack(document.uuid.encode("ascii"), len(document.xml), len(packed))
        )
        self.spool.write(packed)
        self.written += 1
        return Path(document.uuid)

    def records(self) -> Iterable[tuple[str, int, bytes | None, str | None]]:
        """(UUID, size, compressed content, path) of each XML taken."""
        self.spool.seek(0)
        while header := self.spool.read(_RECORD.size):
            uuid, size, length = _RECORD.unpack(header)
            yield uuid.decode("ascii"), size, self.spool.read(length), None

    def before_commit(self) -> None:
        pass

    def close(self) -> None:
        self.spool.close()


class _XmlFiles(XmlExtractor):
    """Writes each CFDI of a package into the shared XML directory; its rows name the files."""

    def __init__(self, folder: SharedXmlDir, job: Job) -> None:  # XmlExtractor's folder: none
        self.written = 0
        self._folder, self._job = folder, job
        self._files: list[tuple[str, int, str]] = []
        self._paths: list[Path] = []

    def write_document(self, document: CfdiDocument) -> Path:
        relative = self._folder.relative(
            self._job.rfc, self._job.direction.value, document.summary.fecha, document.uuid
        )
        self._paths.append(self._folder.write(relative, document.xml))
        self._files.append((document.uuid, len(document.xml), relative))
        self.written += 1
        return self._paths[-1]

    def records(self) -> Iterable[tuple[str, int, bytes | None, str | None]]:
        for uuid, size, relative in self._files:
            yield uuid, size, None, relative

    def before_commit(self) -> None:
        self._folder.sync_folders(self._paths)

    def close(self) -> None:
        pass


class PgStore:
    """`PackageStore` on the fleet's PostgreSQL (outputs of every taxpayer, keyed by RFC)."""

    def __init__(
        self,
        engine: Engine,
        now: Clock = wall_clock,
        xml_dir: SharedXmlDir | None = None,
        reader: Engine | None = None,  # in autocommit: its single SELECTs need no BEGIN
    ) -> None:
        self._engine = engine
        self._reader = reader or engine
        self._now = now
        self._xml_dir = xml_dir  # None: XML in fleet_xml.content
        self.round_trips = 0  # statements sent (the bench reports them per step)

    def clean(self) -> None:
        pass  # nothing is staged outside the transaction

    def read(
        self, package: Path, job: Job, package_id: str, snapshot: datetime | None = None
    ) -> ReadReport:
        spool: _XmlSpool | _XmlFiles | None = None
        with open_package(package) as opened:
            if opened.kind is PackageKind.CFDI:
                spool = _XmlSpool() if self._xml_dir is None else _XmlFiles(self._xml_dir, job)
            table = fleet_metadata if table_for(opened) is METADATA_TABLE else fleet_cfdi
            rows = package_rows(opened, spool, label=package_id, snapshot=snapshot_of(snapshot))
            count, anomalies = self._write(table, rows, job, spool)
            stats, issues = opened.stats, opened.issues
        return ReadReport.of(count, stats, issues, anomalies)

    def _write(
        self, table: Any, rows: Iterable[Any], job: Job, spool: _XmlSpool | _XmlFiles | None
    ) -> tuple[int, int]:
        names = [c.name for c in table.columns]
        quoted = ", ".join(f'"{n}"' for n in names)
        updates = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in names if n not in _KEY)
        prefix = (job.rfc, job.direction.value, job.service)  # the columns `_output` puts first
        discovered = to_local(self._now()).replace(tzinfo=None).isoformat()
        try:
            # One transaction, committed by SQLAlchemy on leaving the block; psycopg's cursor
            # for COPY.
            with self._engine.begin() as outer, _cursor(outer) as cursor:
                cursor.execute(
                    "SELECT set_config('satdescarga.discovered_at', %s, true)", (discovered,)
                )
                last = 0
                if table is fleet_metadata:  # anomalies recorded from here on are this read's
                    last = cursor.execute(_LAST_ANOMALY, (job.rfc, ANOMALY)).fetchone()[0]
                cursor.execute(f"CREATE TEMP TABLE stage (LIKE {table.name}) ON COMMIT DROP")
                with cursor.copy(f"COPY stage ({quoted}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(prefix + tuple(_value(v) for v in row))
                # The last row of a UUID wins, as in the SQLite outputs (upserts in file order).
                cursor.execute(
                    f"INSERT INTO {table.name} ({quoted}) "
                    f"SELECT DISTINCT ON (taxpayer, direction, uuid) {quoted} FROM stage "
                    "ORDER BY taxpayer, direction, uuid, ctid DESC "
                    f"ON CONFLICT (taxpayer, direction, uuid) DO UPDATE SET {updates}"
                )
                count = max(0, int(cursor.rowcount))
                self.round_trips += 4
                anomalies = 0
                if table is fleet_metadata:
                    found = cursor.execute(_NEW_ANOMALIES, (job.rfc, ANOMALY, last)).fetchone()
                    anomalies = int(found[0])
                    self.round_trips += 2
                if spool is not None:
                    columns = "taxpayer, uuid, size, content, path"
                    cursor.execute("CREATE TEMP TABLE stage_xml (LIKE fleet_xml) ON COMMIT DROP")
                    with cursor.copy(f"COPY stage_xml ({columns}) FROM STDIN") as copy:
                        for record in spool.records():
                            copy.write_row((job.rfc, *record))
                    cursor.execute(
                        f"INSERT INTO fleet_xml ({columns}) SELECT DISTINCT ON (taxpayer, uuid) "
                        f"{columns} FROM stage_xml ORDER BY taxpayer, uuid, ctid DESC "
                        "ON CONFLICT (taxpayer, uuid) DO UPDATE SET size = EXCLUDED.size, "
                        "content = EXCLUDED.content, path = EXCLUDED.path"
                    )
                    self.round_trips += 3
                    spool.before_commit()
        finally:
            if spool is not None:
                spool.close()
        return count, anomalies

    def missing_xml(
        self, job: Job, spans: Sequence[tuple[datetime, datetime]]
    ) -> list[tuple[str, datetime]]:
        """(UUID, date) of active documents of `job`'s taxpayer and direction, dated within
        `spans`, whose CFDI the outputs lack."""
        if not spans:
            return []
        party = "rfc_emisor" if job.direction is DownloadType.ISSUED else "rfc_receptor"
        ranges = " OR ".join("(m.fecha_emision BETWEEN %s AND %s)" for _ in spans)
        values: list[object] = [job.rfc, job.service, job.direction.value, job.rfc, ACTIVE]
        for start, end in spans:
            values += [start.replace(tzinfo=None), end.replace(tzinfo=None)]
        query = (
            f"SELECT m.uuid, m.fecha_emision FROM fleet_metadata m "
            f"WHERE m.taxpayer = %s AND m.service = %s AND m.direction = %s "
            f"AND m.{party} = %s AND m.estatus = %s "
            f"AND ({ranges}) "
            "AND NOT EXISTS (SELECT 1 FROM fleet_cfdi c "
            "WHERE c.taxpayer = m.taxpayer AND c.uuid = m.uuid) "
            "ORDER BY m.fecha_emision, m.uuid"
        )
        with self._reader.connect() as outer, _cursor(outer) as cursor:
            rows = cursor.execute(query, values).fetchall()
        return [(uuid, issued) for uuid, issued in rows if issued]

    def document_totals(self, jobs: Sequence[Job]) -> DocumentTotals:
        """Distinct UUIDs of the taxpayer in this service: with metadata, with a CFDI, both (a
        self-invoice, kept in both directions, counts once)."""
        if not jobs:
            return DocumentTotals()
        values = {"rfc": jobs[0].rfc, "service": str(jobs[0].service)}
        query = text(
            "SELECT (SELECT count(DISTINCT uuid) FROM fleet_metadata WHERE taxpayer = :rfc "
            "AND service = :service), "
            "(SELECT count(DISTINCT uuid) FROM fleet_cfdi WHERE taxpayer = :rfc "
            "AND service = :service), "
            "(SELECT count(DISTINCT uuid) FROM fleet_cfdi c WHERE c.taxpayer = :rfc "
            "AND c.service = :service AND NOT EXISTS (SELECT 1 FROM fleet_metadata m "
            "WHERE m.taxpayer = c.taxpayer AND m.uuid = c.uuid))"
        )
        with self._reader.connect() as db:
            metadata, xml, only_xml = db.execute(query, values).one()
        return DocumentTotals(metadata + only_xml, metadata, xml)

    def close(self) -> None:
        pass


_KEY = ("taxpayer", "direction", "uuid")
_LAST_ANOMALY = "SELECT COALESCE(MAX(id), 0) FROM fleet_changes WHERE taxpayer = %s AND change = %s"
_NEW_ANOMALIES = (
    "SELECT count(*) FROM fleet_changes WHERE taxpayer = %s AND change = %s AND id > %s"
)


def _cursor(connection: Connection) -> Any:
    """A psycopg cursor inside `connection`'s transaction (COPY is psycopg's own)."""
    driver: Any = connection.connection.driver_connection
    return driver.cursor()


def _value(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def xml_of(
    engine: Engine, taxpayer: str, uuid: str, xml_dir: SharedXmlDir | None = None
) -> bytes | None:
    """A CFDI's XML as SAT sent it (None when the fleet does not have it). One kept in the
    shared directory is read from `xml_dir` (that directory as mounted here)."""
    with engine.begin() as outer, _cursor(outer) as cursor:
        row = cursor.execute(
            "SELECT content, path FROM fleet_xml WHERE taxpayer = %s AND uuid = %s",
            (taxpayer, uuid),
        ).fetchone()
    if row is None:
        return None
    content, relative = row
    if content is not None:
        return zlib.decompress(content)
    if xml_dir is None:
        raise XmlDirError(f"el XML de {uuid} está en el directorio compartido: indique cuál")
    return xml_dir.read(relative)
