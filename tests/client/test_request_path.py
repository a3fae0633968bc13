"""The request path goes one way: the token is obtained first and handed over as data, every
operation goes through its generated stub, the e.firma is checked once per client, and the
bytes sent are those the zeep-built envelope had (pinned before the transport built its own)."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from satdescarga import Fiel, SatClient, Token
from satdescarga.client.soap_transport import SoapTransport

from ..conftest import CONFORMANCE
from .conftest import Reply, SatStub, golden_client
from .test_conformance import TOKEN, run

# sha256 of each request body as sent before the transport built the envelope itself (zeep
# re-parsed the stub's element and serialized it again): same clock, token id and inputs.
BEFORE = {
    ("authenticate", "Autentica"): (
        "bb22badbaf1772aa8ff5739845ec2054ea900010ef31ea67cf8dab46b8728792"
    ),
    ("issued", "SolicitaDescargaEmitidos"): (
        "a3f5dcd17e790c3414b77a1fc1d0cf55a1ca79ea0a0fea4e576e8fb6201f81bc"
    ),
    ("received", "SolicitaDescargaRecibidos"): (
        "114ee526a5d72500d41473440abd73d9b0446ebb47549ed7edf7e61db2e10a24"
    ),
    ("item", "SolicitaDescargaFolio"): (
        "f832274905eaff01569d60f36eb846d718f948889d1b2539f5b7e78f08898f6b"
    ),
    ("verify", "VerificaSolicitudDescarga"): (
        "3f1e2bd0246a85f61e83be3f946cc3a2674c3e2f44420b73d727c6dbcdb4238e"
    ),
    ("download", "Descargar"): "b780e93f7973b855e9abe357d8a72fac25a6be67a186ba382e5f366db14c2103",
}


@pytest.mark.parametrize(("action", "operation"), sorted(BEFORE))
def test_request_bytes_are_unchanged(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path, action: str, operation: str
) -> None:
    stub = run(fiel, sat, action, tmp_path)
    (call,) = stub.calls_to(operation)
    assert call.body.startswith(
        b"<?xml version='1.0' encoding='utf-8'?>\n<soap-env:Envelope "
        b'xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:des="http://DescargaMasivaTerceros.sat.gob.mx"><soap-env:Header'
    )
    assert hashlib.sha256(call.body).hexdigest() == BEFORE[(action, operation)]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str | None]]:
    """Every transport call: (invoke|stream, operation, token handed over)."""
    calls: list[tuple[str, str, str | None]] = []
    for kind in ("invoke", "stream"):
        original = getattr(SoapTransport, kind)

        def spy(self: SoapTransport, operation: Any, body: Any, token: Any = None,
                _kind: str = kind, _original: Any = original) -> Any:  # fmt: skip
            calls.append((_kind, operation.name, token))
            return _original(self, operation, body, token)

        monkeypatch.setattr(SoapTransport, kind, spy)
    return calls


@pytest.mark.parametrize("action", ["issued", "received", "item", "verify", "download"])
def test_the_token_is_obtained_first_and_handed_over_as_data(
    fiel: Fiel,
    sat: tuple[SatStub, str],
    tmp_path: Path,
    action: str,
    sent: list[tuple[str, str, str | None]],
) -> None:
    stub = run(fiel, sat, action, tmp_path)
    first, second = sent
    assert first == ("invoke", "Autentica", None)
    kind, operation, token = second
    assert (kind, operation) == (
        "stream" if action == "download" else "invoke",
        stub.calls[1].soap_action.rpartition("/")[2],
    )
    assert token is not None and token.startswith(TOKEN)
    assert stub.calls[1].headers["Authorization"] == f'WRAP access_token="{token}"'


def test_the_fiel_is_checked_once_per_client(
    fiel: Fiel, sat: tuple[SatStub, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[datetime | None] = []
    original = Fiel.check

    def check(self: Fiel, now: datetime | None = None) -> None:
        checks.append(now)
        original(self, now)

    monkeypatch.setattr(Fiel, "check", check)
    stub, base = sat
    verified = Reply((CONFORMANCE / "verify" / "response-2-packages.xml").read_bytes())
    stub.queue("VerificaSolicitudDescarga", verified, verified)
    client = golden_client(fiel, base)
    client.authenticate()
    client.verify("a")
    client.authenticate(force=True)
    client.verify("b")
    assert len(checks) == 1
    golden_client(fiel, base).authenticate()  # another client checks on its own
    assert len(checks) == 2


def test_on_token_may_call_back_into_the_client(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    """Authentication is not re-entrant any more, and the hook runs outside the cache's lock."""
    stub, base = sat
    seen: list[Token] = []
    client = SatClient(
        fiel,
        golden_client(fiel, base).endpoints,
        retry_wait=(0.01, 0.05),
        on_token=lambda token: seen.append(client.authenticate()),
    )
    token = client.authenticate(force=True)
    assert seen == [token]
    client.authenticate()  # cached: no new token, the hook is not called
    assert len(seen) == 1 and len(stub.calls_to("Autentica")) == 1


def test_concurrent_calls_share_one_authentication(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    client = SatClient(fiel, golden_client(fiel, base).endpoints, retry_wait=(0.01, 0.05))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.authenticate()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(stub.calls_to("Autentica")) == 1
