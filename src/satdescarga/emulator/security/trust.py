"""The issuers the emulator trusts; any other certificate gets SAT's 305 (Certificado Inválido).

* The emulator's own test CA (`ca.py`), checked cryptographically (issuer name and signature).
* SAT's public test CA ("AC UAT"), which issued the test e.firma and CSD of EKU9003173C9. Its own
  certificate is not available, so it is recognised by the exact issuer Name of those
  certificates (`certificate.SAT_TEST_CA_ISSUER`: every attribute, in order, compared as an x509
  Name; not a substring). A
  certificate forged with that issuer Name would pass: acceptable for an emulator, which is no
  security boundary.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from satdescarga.certificate import SAT_TEST_CA_ISSUER, SatCertificate
from satdescarga.emulator.security.ca import ca_certificate


def issued_by_trusted_ca(certificate: x509.Certificate | SatCertificate) -> bool:
    """True for a certificate of the emulator's test CA or of SAT's test CA (see above)."""
    cert = certificate.x509 if isinstance(certificate, SatCertificate) else certificate
    try:
        cert.verify_directly_issued_by(ca_certificate())
    except (ValueError, TypeError, InvalidSignature):
        return cert.issuer == SAT_TEST_CA_ISSUER
    return True
