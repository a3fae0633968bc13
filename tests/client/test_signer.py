"""`Signer`: the client signs through this small interface, so a key kept outside the process
(an HSM, a signing service) can sign SAT's requests. Here a signer that only forwards the
bytes to sign (and never exposes a key) authenticates and queries the emulator."""

from __future__ import annotations

from datetime import UTC, datetime

from satdescarga import Endpoints, Fiel, SatClient, Signer
from satdescarga.client import DownloadType, Query, RequestType
from satdescarga.emulator import Emulator

from ..conftest import TESTS

FIEL = TESTS / "fixtures" / "sat-test-fiel"


class RemoteSigner:
    """Holds the certificate's facts; signing is someone else's (a stand-in for an HSM)."""

    def __init__(self, fiel: Fiel) -> None:
        self._sign = fiel.sign_sha1
        self.rfc, self.issuer_name = fiel.rfc, fiel.issuer_name
        self.serial_decimal, self.base64 = fiel.serial_decimal, fiel.base64
        self._check = fiel.check
        self.signed = 0

    def sign_sha1(self, data: bytes) -> bytes:
        self.signed += 1
        return self._sign(data)

    def check(self, now: datetime | None = None) -> None:
        self._check(now)


def test_a_signer_that_is_not_a_fiel_signs_every_request() -> None:
    fiel = Fiel.load(
        FIEL / "EKU9003173C9.cer",
        FIEL / "EKU9003173C9.key",
        (FIEL / "EKU9003173C9-password.txt").read_text().strip(),
    )
    signer: Signer = RemoteSigner(fiel)
    with Emulator(accept_delay=0, process_delay=0, daily_documents=1) as sat:
        client = SatClient(signer, Endpoints.local(sat.base_url))
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        query = Query(
            start=now.replace(hour=0, minute=0, second=0),
            end=now,
            download_type=DownloadType.ISSUED,
            request_type=RequestType.METADATA,
        )
        result = client.query(query)
    assert result.status.accepted, result.status
    assert isinstance(signer, RemoteSigner) and signer.signed >= 2  # Autentica and Solicita
