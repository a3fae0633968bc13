"""Metadata packages: the record, its rules, header layouts, and the two readers.

`record.py` defines a row's values and their rules, `layout.py` maps headers onto them,
`thirdparty.py` holds the `*_tercero.txt` data, `careful.py` and `fast.py` are the two ways
to read rows, and `reader.py` (`MetadataPackage`) chooses between them piece by piece.
"""

from satdescarga.packages.metadata.layout import (
    METADATA_PREFIX,
    RETENCIONES_HEADER,
    STANDARD_HEADER,
    THIRD_PARTY_PREFIX,
)
from satdescarga.packages.metadata.reader import MetadataPackage
from satdescarga.packages.metadata.record import (
    Estatus,
    MetadataRecord,
    parse_datetime,
    parse_decimal,
)
from satdescarga.packages.metadata.thirdparty import IN_MEMORY_THIRD_PARTIES

__all__ = [
    "IN_MEMORY_THIRD_PARTIES",
    "METADATA_PREFIX",
    "RETENCIONES_HEADER",
    "STANDARD_HEADER",
    "THIRD_PARTY_PREFIX",
    "Estatus",
    "MetadataPackage",
    "MetadataRecord",
    "parse_datetime",
    "parse_decimal",
]
