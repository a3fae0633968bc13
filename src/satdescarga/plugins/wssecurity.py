"""The WS-Security header of Autentica: signed Timestamp plus the e.firma's certificate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lxml import etree

from satdescarga.fiel import Signer
from satdescarga.plugins.xmldsig import append_signature, digest, ds
from satdescarga.vocabulary import WSSE, WSU, timestamp_text

X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64 = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
TIMESTAMP_ID = "_0"
LIFETIME = timedelta(minutes=5)


def security_header(
    fiel: Signer, created: datetime, token_id: str, soap_env: str
) -> etree._Element:
    """`o:Security` with `u:Timestamp u:Id="_0"`, the BinarySecurityToken `token_id` and a
    Signature over the Timestamp. `created` must be UTC (naive values are taken as UTC)."""
    security = etree.Element(f"{{{WSSE}}}Security", nsmap={"o": WSSE, "u": WSU})
    security.set(f"{{{soap_env}}}mustUnderstand", "1")
    timestamp = etree.SubElement(security, f"{{{WSU}}}Timestamp")
    timestamp.set(f"{{{WSU}}}Id", TIMESTAMP_ID)
    if created.tzinfo is not None:
        created = created.astimezone(UTC)
    etree.SubElement(timestamp, f"{{{WSU}}}Created").text = timestamp_text(created)
    etree.SubElement(timestamp, f"{{{WSU}}}Expires").text = timestamp_text(created + LIFETIME)
    token = etree.SubElement(security, f"{{{WSSE}}}BinarySecurityToken")
    token.set(f"{{{WSU}}}Id", token_id)
    token.set("ValueType", X509V3)
    token.set("EncodingType", BASE64)
    token.text = fiel.base64
    signature = append_signature(security, f"#{TIMESTAMP_ID}", digest(timestamp), fiel)
    key_info = etree.SubElement(signature, ds("KeyInfo"))
    reference = etree.SubElement(
        etree.SubElement(key_info, f"{{{WSSE}}}SecurityTokenReference"), f"{{{WSSE}}}Reference"
    )
    reference.set("URI", f"#{token_id}")
    reference.set("ValueType", X509V3)
    return security
