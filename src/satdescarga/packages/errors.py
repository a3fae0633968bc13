"""Typed errors and non-fatal issues raised or reported while reading SAT packages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from os import PathLike

from satdescarga.errors import SatError


def _where(path: str, entry: str | None, line: int | None) -> str:
    place = path
    if entry is not None:
        place += f" [{entry}"
        if line is not None:
            place += f", línea {line}"
        place += "]"
    return place


class PackageError(SatError):
    """Base class: a package (or an export target) that cannot be processed.

    Every instance names the file (`path`) and, when known, the ZIP entry and line; `message`
    is the reason alone. A `SatError` like every other satdescarga failure (`operation` is
    None: reading a package involves no SAT operation).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike[str],
        entry: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.path = str(path)
        self.entry = entry
        self.line = line
        super().__init__(f"{_where(self.path, entry, line)}: {message}")


class CorruptPackageError(PackageError):
    """Not a ZIP, truncated, bad CRC or undecodable compressed data."""


class PackageLimitError(PackageError):
    """A configured safety limit (entries, sizes, compression ratio) was exceeded."""


class PackageEncodingError(PackageError):
    """Text that is not valid in the expected encoding (UTF-8 unless told otherwise)."""


class UnknownPackageError(PackageError):
    """The ZIP holds neither metadata nor CFDI documents."""


class InvalidDocumentError(PackageError):
    """A CFDI entry that cannot be read (raised only by `CfdiPackage(strict=True)`)."""


class ExportError(PackageError):
    """An export target cannot be written (missing optional dependency, I/O, bad value)."""


class IssueKind(StrEnum):
    """What happened to an entry or a row that did not simply become a record."""

    SKIPPED = "omitida"
    """An entry that is not data (junk, `__MACOSX/`, non-CFDI, outside the root)."""
    DUPLICATE = "duplicado"
    """A CFDI whose UUID was already read from another entry of the package."""
    REPAIRED = "reparada"
    """A metadata row that needed a repair (line break or `~` inside a name)."""
    ERROR = "error"
    """A row or document that could not be read; it is not part of the results."""


@dataclass(frozen=True, slots=True)
class PackageIssue:
    """One non-fatal event, with the package, the entry and (for text) the line."""

    kind: IssueKind
    path: str
    entry: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{_where(self.path, self.entry, self.line)}: {self.kind.value}: {self.message}"


IssueCallback = Callable[[PackageIssue], None]


@dataclass(slots=True)
class IssueLog:
    """Counts every issue, keeps the first `limit` of them and forwards all to a callback."""

    limit: int = 1000
    callback: IssueCallback | None = None
    issues: list[PackageIssue] = field(default_factory=list)
    counts: dict[IssueKind, int] = field(default_factory=lambda: dict.fromkeys(IssueKind, 0))

    def add(self, issue: PackageIssue) -> None:
        self.counts[issue.kind] += 1
        if len(self.issues) < self.limit:
            self.issues.append(issue)
        if self.callback is not None:
            self.callback(issue)

    def count(self, kind: IssueKind) -> int:
        return self.counts[kind]
