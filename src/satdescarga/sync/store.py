"""Where a sync puts what it downloads.

OUT/<rfc>/<emitidos|recibidos>/<YYYY>/<MM>/<UUID>.xml   the CFDI, by emission date
OUT/satdescarga.sqlite                                  tables `metadata` and `cfdi` (upserts),
                                                        `document_changes` (documents.py),
                                                        `anomalias`
OUT/paquetes/<IdPaquete>.zip                            the packages as SAT sent them
OUT/.satdescarga/staging/<IdPaquete>/                   XML of a package being read (transient)

Reading a package twice gives the same outputs (atomic files, upserts), so a crash mid-read is
repaired by reading again. Everything is flushed to disk before the package counts as read.
Each row carries the moment of its snapshot (`fecha_consulta`: when the package's request was
sent); an older snapshot never replaces a newer one (the tables' triggers, `SqliteWriter`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from satdescarga.clock import Clock, to_local, wall_clock
from satdescarga.packages import (
    CFDI_TABLE,
    METADATA_TABLE,
    CfdiDocument,
    ColumnType,
    IssueKind,
    PackageKind,
    SqliteWriter,
    Table,
    XmlExtractor,
    open_package,
    open_writer,
    package_rows,
    snapshot_text,
    table_for,
)
from satdescarga.sync import documents
from satdescarga.sync.plan import Job

DATABASE = "satdescarga.sqlite"
STAGING = Path(".satdescarga") / "staging"
_ANOMALY = documents.ANOMALY


@dataclass
class ReadReport:
    """What reading one package gave: documents (or metadata rows) and every issue."""

    documents: int
    issues: list[tuple[str, str, int | None, str]]  # kind, entry, line, message (the first ones)
    counts: dict[str, int]  # every issue, by kind

    @classmethod
    def of(
        cls, documents: int, stats: Any, issues: Sequence[Any], anomalies: int = 0
    ) -> ReadReport:
        """The report of a package read: its counters and its first issues (`anomalies`:
        documents SAT showed `Vigente` after `Cancelado`, counted as `ANOMALY`)."""
        counts = {
            IssueKind.REPAIRED.value: stats.repaired,
            IssueKind.SKIPPED.value: stats.skipped,
            IssueKind.DUPLICATE.value: stats.duplicates,
            IssueKind.ERROR.value: stats.errors,
            _ANOMALY: anomalies,
        }
        return cls(
            documents,
            [(i.kind.value, i.entry, i.line, i.message) for i in issues],
            {kind: n for kind, n in counts.items() if n},
        )


class OutputStore:
    """Reads packages into OUT through the same pipeline as `satdescarga read` (`package_rows`,
    with its fast metadata path), all or nothing: a CFDI package's XML files are written to a
    staging folder and moved into place only after its rows are committed."""

    def __init__(self, out: Path, now: Clock = wall_clock) -> None:
        self.out = out
        self.database = out / DATABASE
        self.staging = out / STAGING
        self._now = now  # business time: when a change of a document was discovered

    def clean(self) -> None:
        """Drop what an interrupted read left in the staging folder."""
        shutil.rmtree(self.staging, ignore_errors=True)

    def read(
        self, package: Path, job: Job, package_id: str, snapshot: datetime | None = None
    ) -> ReadReport:
        """Read `package` into the outputs (raises PackageError, leaving nothing behind);
        `snapshot`: when its request was sent (the moment of SAT's answer)."""
        self.out.mkdir(parents=True, exist_ok=True)
        staging = self.staging / package_id
        shutil.rmtree(staging, ignore_errors=True)
        try:
            with open_package(package) as opened:
                extractor = None
                if opened.kind is PackageKind.CFDI:
                    extractor = _StagedExtractor(staging, self.out, job)
                rows = package_rows(
                    opened, extractor, label=package_id, snapshot=snapshot_of(snapshot)
                )
                table = table_for(opened)
                if table is METADATA_TABLE:  # its history is recorded as rows come and change
                    documents.prepare(self.database, to_local(self._now()))
                count, anomalies = self._write(table, rows)
                if extractor is not None:
                    extractor.publish()
                stats, issues = opened.stats, opened.issues
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.staging.rmdir()  # only when empty
        os.sync()  # the ledger marks the package read next: the outputs must be on disk first
        return ReadReport.of(count, stats, issues, anomalies)

    def _write(self, table: Table, rows: Iterable[Any]) -> tuple[int, int]:
        writer = SqliteWriter(table, self.database)
        try:
            count = writer.write_rows(rows)
        except BaseException:
            writer.abort()
            raise
        writer.close()
        return count, writer.anomalies

    def export(self, kind: str) -> list[Path]:
        """Copy the `metadata` and `cfdi` tables to OUT/<table>.<kind> (csv or parquet)."""
        written: list[Path] = []
        if not self.database.exists():
            return written
        db = sqlite3.connect(self.database)
        try:
            for table in (METADATA_TABLE, CFDI_TABLE):
                exists = db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
                ).fetchone()
                if not exists:
                    continue
                target = self.out / f"{table.name}.{kind}"
                writer = open_writer(kind, table, target)
                columns = ", ".join(f'"{name}"' for name in table.names)
                cursor = db.execute(f'SELECT {columns} FROM "{table.name}" ORDER BY rowid')
                writer.write_rows(_typed(table, row) for row in cursor)
                writer.close()
                written.append(target)
        finally:
            db.close()
        return written

    def missing_xml(
        self, job: Job, spans: Sequence[tuple[datetime, datetime]]
    ) -> list[tuple[str, datetime]]:
        return documents.missing_xml(self.database, job.rfc, job.direction, spans)

    def close(self) -> None:
        pass


class _StagedExtractor(XmlExtractor):
    """Writes each CFDI under the staging folder, at the path it will have in OUT
    (<rfc>/<direction>/<YYYY>/<MM>/<UUID>.xml); `publish` moves them all into place."""

    def __init__(self, staging: Path, out: Path, job: Job) -> None:
        super().__init__(staging)
        self._out = out
        self._job = job
        self._staged: list[Path] = []
        self._folders: dict[Path, XmlExtractor] = {}

    def write_document(self, document: CfdiDocument) -> Path:
        when = document.summary.fecha
        relative = Path(self._job.rfc, self._job.direction.value)
        relative /= f"{when:%Y}/{when:%m}" if when else "sin-fecha"
        folder = self._folders.get(relative)
        if folder is None:
            folder = self._folders[relative] = XmlExtractor(self.directory / relative)
        path = folder.write(document.uuid, document.xml)
        self._staged.append(path)
        self.written += 1
        return path

    def publish(self) -> None:
        for path in self._staged:
            target = self._out / path.relative_to(self.directory)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)


def snapshot_of(sent_at: datetime | None) -> str | None:
    """The `fecha_consulta` of a request sent at `sent_at` (Mexico City time)."""
    return None if sent_at is None else snapshot_text(to_local(sent_at))


def _typed(table: Table, row: tuple[Any, ...]) -> list[Any]:
    """SQLite values back to the writers' Python types (amounts as text, lists as tuples)."""
    values = list(row)
    for i, column in enumerate(table.columns):
        value = values[i]
        if value is None:
            continue
        if column.type is ColumnType.DECIMAL:
            values[i] = str(value)
        elif column.type is ColumnType.LIST and isinstance(value, str):
            values[i] = tuple(json.loads(value))
    return values
