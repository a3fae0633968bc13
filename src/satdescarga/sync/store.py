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
from satdescarga.errors import LocalFaultError, local_fault
from satdescarga.packages import (
    CFDI_TABLE,
    METADATA_TABLE,
    CfdiDocument,
    ColumnType,
    CsvWriter,
    ExportError,
    IssueKind,
    PackageError,
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
from satdescarga.sync import documents, integrity, listings
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
        `snapshot`: when its request was sent (the moment of SAT's answer). An
        output this computer cannot write (a full disk, a read-only folder, no permission)
        raises `LocalFaultError` instead: the package is not to blame, and stays as it is."""
        try:
            return self._read(package, job, package_id, snapshot)
        except (PackageError, OSError, sqlite3.Error) as exc:
            fault = self._local_fault(exc)
            if fault is None:
                raise
            raise fault from exc

    def _local_fault(self, exc: BaseException) -> LocalFaultError | None:
        """What `exc` amounts to when it is this computer's fault (None: it is not)."""
        if isinstance(exc, ExportError):  # writing an output: any system error is local
            return local_fault(exc, exc.path, any_os_error=True)
        if isinstance(exc, PackageError):  # reading the ZIP: only a disk or permission fault
            return local_fault(exc, exc.path)
        if isinstance(exc, sqlite3.Error):
            return local_fault(exc, self.database)
        return local_fault(exc, self.out, any_os_error=True)

    def _read(
        self, package: Path, job: Job, package_id: str, snapshot: datetime | None
    ) -> ReadReport:
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
                listings.ensure_indexes(self.database)  # what `report` and `changes` read
                placed = extractor.publish() if extractor is not None else []
                integrity.record_read(self.database, package_id, table.name, count, placed)
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

    def export(self, kind: str, bom: bool | None = None) -> list[Path]:
        """Copy the `metadata` and `cfdi` tables to OUT/<table>.<kind> (csv, parquet or xlsx),
        row by row; `bom`: whether a CSV starts with a BOM (by default it does)."""
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
                writer = (
                    CsvWriter(table, target, bom=bom)
                    if kind == "csv"
                    else open_writer(kind, table, target)
                )
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

    def document_totals(self, jobs: Sequence[Job]) -> documents.DocumentTotals:
        return documents.totals(self.database)  # one folder, one taxpayer and service

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

    def publish(self) -> list[str]:
        """Move the staged files into place; their paths relative to OUT ('/'-separated)."""
        placed = []
        for path in self._staged:
            relative = path.relative_to(self.directory)
            target = self._out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            placed.append(relative.as_posix())
        return placed


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
