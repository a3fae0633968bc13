"""The enveloped signature SAT requires in Solicita*, VerificaSolicitudDescarga and Descargar.

Form (proven in production, see tests/conformance/README.md): the Signature is the last child of
the request element (`des:solicitud` / `des:peticionDescarga`), `Reference URI=""` with a single
exclusive-C14N transform, and the digest covers the operation element (the child of s:Body)
without its Signature. KeyInfo carries X509IssuerSerial and the certificate.
"""

from __future__ import annotations

from lxml import etree

from satdescarga.fiel import Signer
from satdescarga.plugins.xmldsig import append_signature, digest, ds


def request_element(operation: etree._Element) -> etree._Element:
    """The element that carries the Signature: the operation's first element child."""
    for child in operation:
        if isinstance(child.tag, str):
            return child
    raise ValueError(f"{etree.QName(operation).localname} has no request element to sign")


def sign_operation(operation: etree._Element, fiel: Signer) -> etree._Element:
    """Sign `operation` (e.g. des:SolicitaDescargaEmitidos) in place; return the Signature."""
    request = request_element(operation)
    for old in request.findall(ds("Signature")):
        request.remove(old)
    signature = append_signature(request, "", digest(operation), fiel)
    key_info = etree.SubElement(signature, ds("KeyInfo"))
    x509_data = etree.SubElement(key_info, ds("X509Data"))
    issuer_serial = etree.SubElement(x509_data, ds("X509IssuerSerial"))
    etree.SubElement(issuer_serial, ds("X509IssuerName")).text = fiel.issuer_name
    etree.SubElement(issuer_serial, ds("X509SerialNumber")).text = fiel.serial_decimal
    etree.SubElement(x509_data, ds("X509Certificate")).text = fiel.base64
    return signature
