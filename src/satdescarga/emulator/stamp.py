"""What every emulated stamped document shares, CFDI or Retenciones: attribute escaping, dates,
seeded look-alike seals and certificates, folios, and the TimbreFiscalDigital.

Seals and certificates are seeded random bytes: they look real but do not verify. Kept apart so
the CFDI and Retenciones writers (cfdi_xml, retenciones_xml) stay about their own schemas.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from datetime import datetime

from satdescarga.emulator.model import Document

XSI = "http://www.w3.org/2001/XMLSchema-instance"
TFD = (
    'xmlns:tfd="http://www.sat.gob.mx/TimbreFiscalDigital" xsi:schemaLocation="'
    "http://www.sat.gob.mx/TimbreFiscalDigital "
    'http://www.sat.gob.mx/sitio_internet/cfd/TimbreFiscalDigital/TimbreFiscalDigitalv11.xsd"'
)
_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#xA;",
        "\r": "&#xD;",
        "\t": "&#x9;",
    }
)


def attr(value: str) -> str:
    """An attribute value, escaped so line breaks survive (&#xA;), as CFDIs carry them."""
    return value.translate(_ESCAPES)


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


# -- seeded look-alike seals and certificates ---------------------------------------------------
def _bytes(seed: bytes, size: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.blake2b(seed + counter.to_bytes(4, "big"), digest_size=64).digest()
        counter += 1
    return out[:size]


def seal(doc: Document, label: bytes) -> str:
    return base64.b64encode(_bytes(label + doc.uuid.encode(), 256)).decode("ascii")


@functools.lru_cache(maxsize=256)
def certificate_of(rfc: str) -> tuple[str, str]:
    """(NoCertificado, Certificado) of an issuer: stable per RFC."""
    digest = hashlib.blake2b(rfc.encode(), digest_size=8).digest()
    number = "30001000000" + f"{int.from_bytes(digest, 'big') % 10**9:09d}"
    body = b"\x30\x82\x06\x04\x30\x82\x03\xec\xa0\x03\x02\x01\x02" + _bytes(rfc.encode(), 1530)
    return number, base64.b64encode(body).decode("ascii")


def regime_of(rfc: str) -> str:
    return "612" if len(rfc) == 13 else "601"


def related_uuid(doc: Document) -> str:
    raw = hashlib.blake2b(b"related" + doc.uuid.encode(), digest_size=16).hexdigest()
    text = raw[:12] + "4" + raw[13:16] + "9" + raw[17:]
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}".upper()


def folio_of(doc: Document) -> str:
    return str(int.from_bytes(doc.draw[20:23], "big") % 99_999 + 1)


def timbre(doc: Document, seal_cfd: str) -> str:
    return (
        f"<tfd:TimbreFiscalDigital {TFD} "
        f'Version="1.1" UUID="{doc.uuid}" FechaTimbrado="{when(doc.certified_at)}" '
        f'RfcProvCertif="{doc.pac_rfc}" SelloCFD="{seal_cfd}" '
        f'NoCertificadoSAT="30001000000500003456" SelloSAT="{seal(doc, b"sat")}"/>'
    )
