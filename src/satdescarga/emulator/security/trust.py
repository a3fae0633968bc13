"""The issuers the emulator trusts; any other certificate gets SAT's 305 (Certificado Inválido).

* The emulator's own test CA (`ca.py`), checked cryptographically (issuer name and signature).
* SAT's public test CA ("AC UAT"), which issued the test e.firma and CSD of EKU9003173C9. Its own
  certificate is not available, so it is recognised by the exact issuer Name of those
  certificates (every attribute, in order, compared as an x509 Name; not a substring). A
  certificate forged with that issuer Name would pass: acceptable for an emulator, which is no
  security boundary.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID, ObjectIdentifier

from satdescarga.certificate import UNIQUE_ID, SatCertificate
from satdescarga.emulator.security.ca import ca_certificate

SAT_TEST_CA_ISSUER = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "AC UAT"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SERVICIO DE ADMINISTRACION TRIBUTARIA"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "SAT-IES Authority"),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "oscar.martinez@sat.gob.mx"),
        x509.NameAttribute(NameOID.STREET_ADDRESS, "3ra cerrada de caliz"),
        x509.NameAttribute(NameOID.POSTAL_CODE, "06370"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "MX"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CIUDAD DE MEXICO"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "COYOACAN"),
        x509.NameAttribute(UNIQUE_ID, "2.5.4.45"),
        x509.NameAttribute(ObjectIdentifier("1.2.840.113549.1.9.2"), "responsable: ACDMA-SAT"),
    ]
)


def issued_by_trusted_ca(certificate: x509.Certificate | SatCertificate) -> bool:
    """True for a certificate of the emulator's test CA or of SAT's test CA (see above)."""
    cert = certificate.x509 if isinstance(certificate, SatCertificate) else certificate
    try:
        cert.verify_directly_issued_by(ca_certificate())
    except (ValueError, TypeError, InvalidSignature):
        return cert.issuer == SAT_TEST_CA_ISSUER
    return True
