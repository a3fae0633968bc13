"""XML-DSig pieces shared by both SAT signature forms: exclusive C14N, SHA-1, SignedInfo."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from lxml import etree

from satdescarga.fiel import Signer
from satdescarga.vocabulary import DSIG

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"


def ds(name: str) -> str:
    return f"{{{DSIG}}}{name}"


def exc_c14n(element: etree._Element) -> bytes:
    """Exclusive XML canonicalization (without comments) of `element` as it sits in its tree."""
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def digest(element: etree._Element) -> str:
    """base64(SHA-1(exc-C14N(element)))."""
    return base64.b64encode(hashlib.sha1(exc_c14n(element)).digest()).decode("ascii")


def append_signature(
    parent: etree._Element, uri: str, digest_value: str, fiel: Signer
) -> etree._Element:
    """Append `<Signature xmlns=dsig>` with one Reference (exc-C14N transform) to `parent`,
    sign its SignedInfo with the e.firma and return the Signature (KeyInfo left to the caller)."""
    nsmap: Any = {None: DSIG}  # default namespace, as SAT expects
    signature = etree.SubElement(parent, ds("Signature"), nsmap=nsmap)
    signed_info = etree.SubElement(signature, ds("SignedInfo"))
    etree.SubElement(signed_info, ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(signed_info, ds("SignatureMethod"), Algorithm=RSA_SHA1)
    reference = etree.SubElement(signed_info, ds("Reference"), URI=uri)
    transforms = etree.SubElement(reference, ds("Transforms"))
    etree.SubElement(transforms, ds("Transform"), Algorithm=EXC_C14N)
    etree.SubElement(reference, ds("DigestMethod"), Algorithm=SHA1)
    etree.SubElement(reference, ds("DigestValue")).text = digest_value
    value = fiel.sign_sha1(exc_c14n(signed_info))
    etree.SubElement(signature, ds("SignatureValue")).text = base64.b64encode(value).decode()
    return signature
