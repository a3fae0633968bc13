"""How documents are written: CFDI 3.3 / 4.0 (cfdi_xml) and Retenciones 2.0 (retenciones_xml)
XML; metadata rows are in metadata_rows, the pieces both XML writers share in stamp.

The XML is synthetic but shaped like real stamped documents (namespaces, schemaLocation,
catalogue keys, complements, TimbreFiscalDigital with the UUID inside `Complemento`). Seals
and certificates are seeded random bytes: they look real but do not verify. Files start
directly with the root element (no XML declaration, LF), as in SAT's sample package.
"""

from __future__ import annotations

from satdescarga.emulator.cfdi_xml import cfdi
from satdescarga.emulator.model import Document
from satdescarga.emulator.retenciones_xml import retenciones
from satdescarga.vocabulary import ServiceFamily


def render(doc: Document) -> bytes:
    """The document's XML (the user's own bytes for loaded documents)."""
    if doc.source is not None:
        return doc.source.read_bytes()
    if doc.family is ServiceFamily.RETENCIONES:
        return retenciones(doc).encode("utf-8")
    return cfdi(doc).encode("utf-8")
