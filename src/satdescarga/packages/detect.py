"""Tell metadata packages from CFDI packages by their content, and open either."""

from __future__ import annotations

import os
from pathlib import Path

from satdescarga.packages.base import PackageKind
from satdescarga.packages.cfdi import CfdiPackage
from satdescarga.packages.errors import IssueCallback, UnknownPackageError
from satdescarga.packages.metadata import METADATA_PREFIX, THIRD_PARTY_PREFIX, MetadataPackage
from satdescarga.packages.zipguard import (
    DEFAULT_LIMITS,
    PackageLimits,
    PackageZip,
    ProgressCallback,
    skip_reason,
)


def _sniff(zf: PackageZip, path: Path) -> PackageKind:
    xml = False
    for info in zf.entries():
        if skip_reason(info) is not None:
            continue
        name = info.filename.lower()
        if name.endswith(".txt"):
            head = zf.head(info, 512).decode("utf-8", "replace")
            text = head.lstrip("\ufeff \t\r\n").lower()
            if text.startswith((METADATA_PREFIX, THIRD_PARTY_PREFIX)):
                return PackageKind.METADATA
        elif not xml and (".xml" in name or zf.head(info, 64).lstrip()[:1] == b"<"):
            xml = True
    if xml:
        return PackageKind.CFDI
    raise UnknownPackageError(
        "no contiene metadatos (.txt con encabezado Uuid~RfcEmisor~) ni documentos XML",
        path=path,
    )


def detect_kind(
    path: str | os.PathLike[str], *, limits: PackageLimits = DEFAULT_LIMITS
) -> PackageKind:
    """METADATA or CFDI, from the entries' content; `UnknownPackageError` for anything else."""
    p = Path(path)
    with PackageZip(p, limits) as zf:
        return _sniff(zf, p)


def open_package(
    path: str | os.PathLike[str],
    *,
    limits: PackageLimits = DEFAULT_LIMITS,
    encoding: str = "utf-8",
    strict: bool = False,
    on_issue: IssueCallback | None = None,
    max_issues: int = 1000,
    progress: ProgressCallback | None = None,
) -> MetadataPackage | CfdiPackage:
    """Open a package of either kind (detected from its content, never from its name)."""
    p = Path(path)
    zf = PackageZip(p, limits)
    try:
        kind = _sniff(zf, p)
        if kind is PackageKind.METADATA:
            return MetadataPackage(
                p,
                encoding=encoding,
                limits=limits,
                on_issue=on_issue,
                max_issues=max_issues,
                progress=progress,
                _zip=zf,
            )
        return CfdiPackage(
            p,
            strict=strict,
            limits=limits,
            on_issue=on_issue,
            max_issues=max_issues,
            progress=progress,
            _zip=zf,
        )
    except BaseException:
        zf.close()
        raise
