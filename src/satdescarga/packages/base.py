"""What metadata and CFDI packages share: the opened ZIP, issues, statistics, lifetime."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Self

from satdescarga.packages.errors import IssueCallback, IssueKind, IssueLog, PackageIssue
from satdescarga.packages.zipguard import (
    DEFAULT_LIMITS,
    PackageLimits,
    PackageZip,
    ProgressCallback,
)


class PackageKind(StrEnum):
    """The two kinds of package the SAT delivers."""

    METADATA = "metadata"
    CFDI = "cfdi"


@dataclass(slots=True)
class ReadStats:
    """Counters of the last (or current) pass over a package."""

    entries: int = 0
    """Entries in the ZIP, junk included."""
    data_files: int = 0
    """Entries that held data (metadata text files, CFDI documents)."""
    rows: int = 0
    """Records (metadata) or distinct documents (CFDI) produced."""
    skipped: int = 0
    duplicates: int = 0
    repaired: int = 0
    errors: int = 0


class Package:
    """A package ZIP opened with every safety limit checked; subclasses read it.

    Iterating re-reads the ZIP; `issues` and `stats` describe the latest pass. Use it as a
    context manager (or call `close()`) to release the file.
    """

    kind: PackageKind

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        limits: PackageLimits = DEFAULT_LIMITS,
        on_issue: IssueCallback | None = None,
        max_issues: int = 1000,
        progress: ProgressCallback | None = None,
        _zip: PackageZip | None = None,
    ) -> None:
        self.path = Path(path)
        self.limits = limits
        self.on_issue = on_issue
        self.max_issues = max_issues
        self.progress = progress
        self._zip = _zip if _zip is not None else PackageZip(self.path, limits)
        self._log = IssueLog(max_issues, on_issue)
        self.stats = ReadStats(entries=self._zip.entry_count)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def issues(self) -> list[PackageIssue]:
        """Issues of the latest pass (the first `max_issues`; `stats` counts them all)."""
        return self._log.issues

    def _start_pass(self) -> IssueLog:
        self._log = IssueLog(self.max_issues, self.on_issue)
        self.stats = ReadStats(entries=self._zip.entry_count)
        return self._log

    def _issue(self, kind: IssueKind, entry: str, message: str, line: int | None = None) -> None:
        self._log.add(PackageIssue(kind, str(self.path), entry, message, line))
        stats = self.stats
        if kind is IssueKind.SKIPPED:
            stats.skipped += 1
        elif kind is IssueKind.DUPLICATE:
            stats.duplicates += 1
        elif kind is IssueKind.REPAIRED:
            stats.repaired += 1
        else:
            stats.errors += 1

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
