"""Reading SAT packages (metadata and CFDI ZIPs) safely, and exporting what they hold.

>>> from satdescarga.packages import open_package
>>> with open_package("paquete.zip") as package:
...     for record in package: ...
"""

from satdescarga.packages.base import PackageKind, ReadStats
from satdescarga.packages.cfdi import CfdiDocument, CfdiPackage
from satdescarga.packages.detect import detect_kind, open_package
from satdescarga.packages.errors import (
    CorruptPackageError,
    ExportError,
    InvalidDocumentError,
    IssueKind,
    PackageEncodingError,
    PackageError,
    PackageIssue,
    PackageLimitError,
    UnknownPackageError,
)
from satdescarga.packages.export import (
    ANOMALIES,
    CFDI_TABLE,
    METADATA_TABLE,
    SNAPSHOT,
    Column,
    ColumnType,
    CsvWriter,
    DedupWriter,
    ExportFormat,
    JsonLinesWriter,
    MetadataRows,
    ParquetWriter,
    SqliteWriter,
    Table,
    TableWriter,
    XmlExtractor,
    cfdi_rows,
    export_package,
    metadata_rows,
    open_writer,
    package_rows,
    snapshot_text,
    table_for,
)
from satdescarga.packages.metadata import Estatus, MetadataPackage, MetadataRecord
from satdescarga.packages.summary import CfdiSummary, DocumentKind, summarize_xml
from satdescarga.packages.zipguard import DEFAULT_LIMITS, PackageLimits

__all__ = [
    "ANOMALIES",
    "CFDI_TABLE",
    "DEFAULT_LIMITS",
    "METADATA_TABLE",
    "SNAPSHOT",
    "CfdiDocument",
    "CfdiPackage",
    "CfdiSummary",
    "Column",
    "ColumnType",
    "CorruptPackageError",
    "CsvWriter",
    "DedupWriter",
    "DocumentKind",
    "Estatus",
    "ExportError",
    "ExportFormat",
    "InvalidDocumentError",
    "IssueKind",
    "JsonLinesWriter",
    "MetadataPackage",
    "MetadataRecord",
    "MetadataRows",
    "PackageEncodingError",
    "PackageError",
    "PackageIssue",
    "PackageKind",
    "PackageLimitError",
    "PackageLimits",
    "ParquetWriter",
    "ReadStats",
    "SqliteWriter",
    "Table",
    "TableWriter",
    "UnknownPackageError",
    "XmlExtractor",
    "cfdi_rows",
    "detect_kind",
    "export_package",
    "metadata_rows",
    "open_package",
    "open_writer",
    "package_rows",
    "snapshot_text",
    "summarize_xml",
    "table_for",
]
