"""CFDI packages: each document keyed by the UUID of its TimbreFiscalDigital."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import NamedTuple

from lxml import etree

from satdescarga.packages.base import Package, PackageKind
from satdescarga.packages.errors import (
    InvalidDocumentError,
    IssueCallback,
    IssueKind,
    PackageEncodingError,
)
from satdescarga.packages.summary import (
    ROOT_TAGS,
    CfdiSummary,
    complements,
    has_doctype,
    parser,
    stamp_uuid,
    summarize,
)
from satdescarga.packages.zipguard import (
    DEFAULT_LIMITS,
    PackageLimits,
    PackageZip,
    ProgressCallback,
    skip_reason,
)

_XML_START = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<")
_DECLARED_ENCODING = re.compile(
    rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*encoding\s*=\s*["']([^"']+)"""
)
_INVALID_ENCODING = int(etree.ErrorTypes.ERR_INVALID_ENCODING)
_DOCTYPE_REFUSED = "XML con DOCTYPE rechazado (no se admiten DTD ni entidades)"


def _where(exc: etree.XMLSyntaxError) -> str:
    """Where libxml2 stopped, in Spanish (its own English text stays in the exception)."""
    line, column = getattr(exc, "lineno", 0) or 0, getattr(exc, "offset", 0) or 0
    return f" (línea {line}, columna {column})" if line else ""


class CfdiDocument(NamedTuple):
    """One distinct CFDI of a package."""

    uuid: str
    """TimbreFiscalDigital UUID, upper case."""
    xml: bytes
    """The document exactly as stored in the ZIP."""
    entry: str
    """Name of the entry it was read from (never trusted as a UUID or a path)."""
    summary: CfdiSummary


class _Parsed(NamedTuple):
    uuid: str
    xml: bytes
    entry: str
    root: etree._Element
    nodes: list[etree._Element]


class CfdiPackage(Package):
    """A CFDI (or Retenciones) XML package.

    Iterating gives `(uuid, xml_bytes)` pairs, one per distinct TimbreFiscalDigital UUID in
    ZIP order; `documents()` adds the entry name and a typed `CfdiSummary`; `summaries()` gives
    only the summaries. Entries that are not stamped CFDI at the root of the ZIP are skipped
    and reported; a UUID seen again is reported once per extra copy. A document that cannot
    be parsed is an `IssueKind.ERROR` issue, or `InvalidDocumentError` /
    `PackageEncodingError` with `strict=True`.
    """

    kind = PackageKind.CFDI

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        strict: bool = False,
        limits: PackageLimits = DEFAULT_LIMITS,
        on_issue: IssueCallback | None = None,
        max_issues: int = 1000,
        progress: ProgressCallback | None = None,
        _zip: PackageZip | None = None,
    ) -> None:
        super().__init__(
            path,
            limits=limits,
            on_issue=on_issue,
            max_issues=max_issues,
            progress=progress,
            _zip=_zip,
        )
        self.strict = strict

    @property
    def total_bytes(self) -> int:
        """Uncompressed bytes a full pass reads (for progress bars)."""
        return self._zip.data_size

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        for doc in self._parsed():
            yield doc.uuid, doc.xml

    def documents(self) -> Iterator[CfdiDocument]:
        for doc in self._parsed():
            yield CfdiDocument(
                doc.uuid, doc.xml, doc.entry, summarize(doc.root, doc.uuid, doc.entry, doc.nodes)
            )

    def summaries(self) -> Iterator[CfdiSummary]:
        for doc in self._parsed():
            yield summarize(doc.root, doc.uuid, doc.entry, doc.nodes)

    def _parsed(self) -> Iterator[_Parsed]:
        self._start_pass()
        xml_parser = parser()
        seen: dict[str, tuple[str, int]] = {}
        progress = self.progress
        limit = self.limits.max_document_size
        for info in self._zip.entries():
            name = info.filename
            reason = skip_reason(info)
            if reason is not None:
                self._issue(IssueKind.SKIPPED, name, reason)
                continue
            if progress is not None:
                progress(info.file_size)
            if info.file_size > limit:
                self._document_error(
                    name,
                    f"el XML ocupa {info.file_size:,} bytes; el límite por documento es "
                    f"{limit:,} (max_document_size)",
                )
                continue
            data = self._zip.read(info)
            if not _XML_START.match(data):
                self._issue(IssueKind.SKIPPED, name, "no es un documento XML")
                continue
            root = self._parse(name, data, xml_parser)
            if root is None:
                continue
            if root.tag not in ROOT_TAGS:
                kind = etree.QName(root).localname
                self._issue(
                    IssueKind.SKIPPED,
                    name,
                    f"XML que no es un CFDI ni un CFDI de retenciones ({kind})",
                )
                continue
            nodes = complements(root)
            uuid = stamp_uuid(nodes)
            if uuid is None:
                self._issue(
                    IssueKind.SKIPPED, name, "CFDI sin TimbreFiscalDigital con un UUID válido"
                )
                continue
            self.stats.data_files += 1
            first = seen.get(uuid)
            if first is not None:
                same = "idéntico" if first[1] == info.crc else "distinto; se conserva el primero"
                self._issue(
                    IssueKind.DUPLICATE,
                    name,
                    f"UUID {uuid} repetido (ya se leyó de {first[0]}); contenido {same}",
                )
                continue
            seen[uuid] = (name, info.crc)
            self.stats.rows += 1
            yield _Parsed(uuid, data, name, root, nodes)

    def _parse(self, name: str, data: bytes, xml_parser: etree.XMLParser) -> etree._Element | None:
        try:
            root = etree.fromstring(data, xml_parser)
        except etree.XMLSyntaxError as exc:
            if getattr(exc, "code", None) == _INVALID_ENCODING:
                declared = _DECLARED_ENCODING.match(data)
                encoding = declared.group(1).decode("ascii", "replace") if declared else "UTF-8"
                message = f"el XML no es {encoding.upper()} válido{_where(exc)}"
                if self.strict:
                    raise PackageEncodingError(message, path=self.path, entry=name) from exc
                self._issue(IssueKind.ERROR, name, message)
                return None
            if b"<!DOCTYPE" in data:  # libxml2 stopped at an entity it refused to load
                self._document_error(name, _DOCTYPE_REFUSED)
            else:
                self._document_error(name, f"XML mal formado{_where(exc)}")
            return None
        if has_doctype(root):
            self._document_error(name, _DOCTYPE_REFUSED)
            return None
        return root

    def _document_error(self, name: str, message: str) -> None:
        if self.strict:
            raise InvalidDocumentError(message, path=self.path, entry=name)
        self._issue(IssueKind.ERROR, name, message)
