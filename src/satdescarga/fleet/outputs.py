"""The fleet's outputs in PostgreSQL: a `PackageStore` (sync.run) that every worker shares.

A package is read in one transaction: its rows go with COPY into a temporary table, then into
`fleet_metadata` or `fleet_cfdi` with one upsert keyed by (taxpayer, UUID) (a re-read after a
crash changes nothing); a CFDI package's XML goes, zlib-compressed, to `fleet_xml` in the same
transaction, from a spool file (one connection holds one COPY at a time). The triggers of the
fleet's first revision record what appeared or changed status in `fleet_changes`, stamped with
the business time set here. The ledger marks the package read only after the commit.
"""

from __future__ import annotations

import struct
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine

from satdescarga.clock import Clock, to_local, wall_clock
from satdescarga.fleet.schema import fleet_cfdi, fleet_metadata
from satdescarga.packages import (
    METADATA_TABLE,
    CfdiDocument,
    PackageKind,
    XmlExtractor,
    open_package,
    package_rows,
    table_for,
)
from satdescarga.sync.documents import ACTIVE
from satdescarga.sync.plan import Job
from satdescarga.sync.store import ReadReport
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

    def records(self) -> Iterable[tuple[str, int, bytes]]:
        self.spool.seek(0)
        while header := self.spool.read(_RECORD.size):
            uuid, size, length = _RECORD.unpack(header)
            yield uuid.decode("ascii"), size, self.spool.read(length)


class PgStore:
    """`PackageStore` on the fleet's PostgreSQL (outputs of every taxpayer, keyed by RFC)."""

    def __init__(self, engine: Engine, now: Clock = wall_clock) -> None:
        self._engine = engine
        self._now = now
        self.round_trips = 0  # statements sent (the bench reports them per step)

    def clean(self) -> None:
        pass  # nothing is staged outside the transaction

    def read(self, package: Path, job: Job, package_id: str) -> ReadReport:
        spool = None
        with open_package(package) as opened:
            if opened.kind is PackageKind.CFDI:
                spool = _XmlSpool()
            table = fleet_metadata if table_for(opened) is METADATA_TABLE else fleet_cfdi
            rows = package_rows(opened, spool, label=package_id)
            count = self._write(table, rows, job, spool)
            stats, issues = opened.stats, opened.issues
        return ReadReport.of(count, stats, issues)

    def _write(self, table: Any, rows: Iterable[Any], job: Job, spool: _XmlSpool | None) -> int:
        names = [c.name for c in table.columns]
        quoted = ", ".join(f'"{n}"' for n in names)
        updates = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in names if n not in _KEY)
        prefix = (job.rfc, job.direction.value)
        discovered = to_local(self._now()).replace(tzinfo=None).isoformat()
        try:
            # One transaction, committed by SQLAlchemy on leaving the block; psycopg's cursor
            # for COPY.
            with self._engine.begin() as outer, _cursor(outer) as cursor:
                cursor.execute(
                    "SELECT set_config('satdescarga.discovered_at', %s, true)", (discovered,)
                )
                cursor.execute(f"CREATE TEMP TABLE stage (LIKE {table.name}) ON COMMIT DROP")
                with cursor.copy(f"COPY stage ({quoted}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(prefix + tuple(_value(v) for v in row))
                # The last row of a UUID wins, as in the SQLite outputs (upserts in file order).
                cursor.execute(
                    f"INSERT INTO {table.name} ({quoted}) "
                    f"SELECT DISTINCT ON (taxpayer, uuid) {quoted} FROM stage "
                    "ORDER BY taxpayer, uuid, ctid DESC "
                    f"ON CONFLICT (taxpayer, uuid) DO UPDATE SET {updates}"
                )
                count = max(0, int(cursor.rowcount))
                self.round_trips += 4
                if spool is not None:
                    cursor.execute("CREATE TEMP TABLE stage_xml (LIKE fleet_xml) ON COMMIT DROP")
                    with cursor.copy(
                        "COPY stage_xml (taxpayer, uuid, size, content) FROM STDIN"
                    ) as copy:
                        for uuid, size, content in spool.records():
                            copy.write_row((job.rfc, uuid, size, content))
                    cursor.execute(
                        "INSERT INTO fleet_xml SELECT DISTINCT ON (taxpayer, uuid) * "
                        "FROM stage_xml ORDER BY taxpayer, uuid, ctid DESC "
                        "ON CONFLICT (taxpayer, uuid) DO UPDATE "
                        "SET size = EXCLUDED.size, content = EXCLUDED.content"
                    )
                    self.round_trips += 3
        finally:
            if spool is not None:
                spool.spool.close()
        return count

    def missing_xml(
        self, job: Job, spans: Sequence[tuple[datetime, datetime]]
    ) -> list[tuple[str, datetime]]:
        """(UUID, date) of active documents of `job`'s taxpayer and direction, dated within
        `spans`, whose CFDI the outputs lack."""
        if not spans:
            return []
        party = "rfc_emisor" if job.direction is DownloadType.ISSUED else "rfc_receptor"
        ranges = " OR ".join("(m.fecha_emision BETWEEN %s AND %s)" for _ in spans)
        values: list[object] = [job.rfc, job.rfc, ACTIVE]
        for start, end in spans:
            values += [start.replace(tzinfo=None), end.replace(tzinfo=None)]
        query = (
            f"SELECT m.uuid, m.fecha_emision FROM fleet_metadata m "
            f"WHERE m.taxpayer = %s AND m.{party} = %s AND m.estatus = %s AND ({ranges}) "
            "AND NOT EXISTS (SELECT 1 FROM fleet_cfdi c "
            "WHERE c.taxpayer = m.taxpayer AND c.uuid = m.uuid) "
            "ORDER BY m.fecha_emision, m.uuid"
        )
        with self._engine.begin() as outer, _cursor(outer) as cursor:
            rows = cursor.execute(query, values).fetchall()
        return [(uuid, issued) for uuid, issued in rows if issued]

    def close(self) -> None:
        pass


_KEY = ("taxpayer", "uuid")


def _cursor(connection: Connection) -> Any:
    """A psycopg cursor inside `connection`'s transaction (COPY is psycopg's own)."""
    driver: Any = connection.connection.driver_connection
    return driver.cursor()


def _value(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def xml_of(engine: Engine, taxpayer: str, uuid: str) -> bytes | None:
    """A CFDI's XML as SAT sent it (None when the fleet does not have it)."""
    with engine.begin() as outer, _cursor(outer) as cursor:
        row = cursor.execute(
            "SELECT content FROM fleet_xml WHERE taxpayer = %s AND uuid = %s", (taxpayer, uuid)
        ).fetchone()
    return None if row is None else zlib.decompress(row[0])
