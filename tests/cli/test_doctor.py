"""`satdescarga doctor` against the emulator: each finding a user can meet, what it says and
the exit code (0 all good, 2 no password, 3 the e.firma or the clock, 4 network)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from satdescarga.cli import main
from satdescarga.diagnosis import Verdict
from satdescarga.diagnosis.online import Reading, clock_finding
from satdescarga.emulator import Emulator
from satdescarga.emulator.security.ca import TEST_PASSWORD, issue_fiel

from ..sync.conftest import FIEL_DIR, PASSWORD_FILE, RFC, emulator

CSD_DIR = FIEL_DIR.parent / "sat-test-csd"
CER, KEY = f"{RFC}.cer", f"{RFC}.key"


@pytest.fixture(scope="module")
def sat() -> Iterator[Emulator]:
    with emulator() as running:
        yield running


def doctor(
    *args: str,
    cer: Path = FIEL_DIR / CER,
    key: Path = FIEL_DIR / KEY,
    password_file: Path | None = PASSWORD_FILE,
    env: dict[str, str | None] | None = None,
) -> Result:
    options = ["--cer", str(cer), "--key", str(key)]
    if password_file is not None:
        options += ["--password-file", str(password_file)]
    return CliRunner().invoke(main, ["doctor", *options, *args], env=env)


def findings(result: Result) -> dict[str, dict[str, Any]]:
    """The --json lines by check (every line of stdout is JSON)."""
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return {line.get("check", "resumen"): line for line in lines}


def states(result: Result) -> dict[str, str]:
    return {name: line["verdict"] for name, line in findings(result).items()}


def issued(folder: Path, **validity: datetime) -> tuple[Path, Path, Path]:
    """An e.firma of the emulator's test CA with the given validity."""
    return issue_fiel(RFC, folder, password=TEST_PASSWORD, **validity)  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_the_fiel_against_the_emulator_is_all_good(sat: Emulator) -> None:
    result = doctor("--endpoint-base", sat.base_url)
    assert result.exit_code == 0, result.output
    assert "Resultado: todo bien" in result.output and "error" not in result.output
    as_json = doctor("--endpoint-base", sat.base_url, "--json")
    assert as_json.exit_code == 0
    assert states(as_json) == {
        "certificado": "bien",
        "tipo": "bien",
        "vigencia": "bien",
        "emisor": "bien",
        "contrasena": "bien",
        "llave": "bien",
        "conexion_autenticacion": "bien",
        "conexion_solicitud": "bien",
        "conexion_verificacion": "bien",
        "conexion_descarga": "bien",
        "reloj": "bien",
        "autenticacion": "bien",
        "firma": "bien",
        "resumen": "bien",
    }
    found = findings(as_json)
    assert found["certificado"]["rfc"] == RFC and found["tipo"]["kind"] == "e.firma"
    assert abs(found["reloj"]["skew_seconds"]) < 5
    assert found["reloj"]["source"].startswith("Timestamp")
    assert found["firma"]["sat_code"] == "5004"  # the signature passed; nothing was asked
    assert found["resumen"] == {
        "event": "doctor_summary",
        "verdict": "bien",
        "good": 13,
        "warnings": 0,
        "errors": 0,
        "exit_code": 0,
    }


def test_a_csd_is_named_and_says_what_to_do(sat: Emulator) -> None:
    result = doctor(
        "--endpoint-base",
        sat.base_url,
        cer=CSD_DIR / CER,
        key=CSD_DIR / KEY,
        password_file=CSD_DIR / f"{RFC}-password.txt",
    )
    assert result.exit_code == 3, result.output
    assert "es un CSD (sello digital), no una e.firma" in result.output
    assert "305" in result.output and "use el .cer y el .key de su e.firma (FIEL)" in result.output
    found = findings(doctor("--endpoint-base", sat.base_url, "--json", cer=CSD_DIR / CER))
    assert found["tipo"]["verdict"] == "error" and found["tipo"]["kind"] == "CSD"
    assert "FIEL" in found["tipo"]["action"]
    assert found["autenticacion"]["verdict"] == "aviso"  # never sent with a CSD
    assert found["resumen"]["exit_code"] == 3


def test_a_wrong_password_still_checks_the_certificate(sat: Emulator) -> None:
    env: dict[str, str | None] = {"SATDESCARGA_PASSWORD": "no-es-esta"}
    result = doctor("--endpoint-base", sat.base_url, "--json", password_file=None, env=env)
    assert result.exit_code == 3
    assert "no-es-esta" not in result.output
    assert states(result) | {"resumen": ""} == states(result) | {
        "certificado": "bien",
        "tipo": "bien",
        "vigencia": "bien",
        "contrasena": "error",
        "llave": "aviso",
        "autenticacion": "aviso",
        "resumen": "",
    }
    assert "CIEC" in findings(result)["contrasena"]["action"]


def test_a_missing_key_or_password_still_checks_the_certificate(tmp_path: Path) -> None:
    missing = doctor("--offline", "--json", key=tmp_path / "no-existe.key")
    assert missing.exit_code == 3
    found = findings(missing)
    assert found["tipo"]["verdict"] == "bien" and found["llave"]["verdict"] == "error"
    assert "no-existe.key" in found["llave"]["message"]
    no_password = doctor(
        "--offline", "--json", password_file=None, env={"SATDESCARGA_PASSWORD": None}
    )
    assert no_password.exit_code == 2
    assert findings(no_password)["contrasena"]["verdict"] == "error"
    assert findings(no_password)["vigencia"]["verdict"] == "bien"


def test_a_key_of_another_certificate_is_named(sat: Emulator) -> None:
    result = doctor("--endpoint-base", sat.base_url, key=CSD_DIR / KEY)
    assert result.exit_code == 3
    assert "la llave privada no corresponde al certificado" in result.output
    assert "el .key que se generó con este .cer" in result.output


def test_expired_not_yet_valid_and_expiring_soon(sat: Emulator, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    cases = {
        "vencida": (now - timedelta(days=800), now - timedelta(days=3)),
        "futura": (now + timedelta(days=3), now + timedelta(days=800)),
        "por-vencer": (now - timedelta(days=300), now + timedelta(days=12)),
    }
    results = {}
    for name, (start, end) in cases.items():
        cer, key, secret = issued(tmp_path / name, valid_from=start, valid_until=end)
        results[name] = doctor(
            "--endpoint-base", sat.base_url, "--json", cer=cer, key=key, password_file=secret
        )
    expired = findings(results["vencida"])["vigencia"]
    assert results["vencida"].exit_code == 3 and expired["verdict"] == "error"
    assert "venció" in expired["message"] and "renueve" in expired["action"]
    future = findings(results["futura"])["vigencia"]
    assert results["futura"].exit_code == 3 and "aún no es válida" in future["message"]
    soon = findings(results["por-vencer"])
    assert results["por-vencer"].exit_code == 0  # a warning: it still works today
    assert soon["vigencia"]["verdict"] == "aviso" and "en 11 días" in soon["vigencia"]["message"]
    assert soon["autenticacion"]["verdict"] == "bien" and soon["emisor"]["verdict"] == "bien"


def reissue(cer: Path, issuer: x509.Name) -> None:
    """Sign the certificate in `cer` again, as `issuer` (with a key nobody trusts)."""
    original = x509.load_der_x509_certificate(cer.read_bytes())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = (
        x509.CertificateBuilder()
        .subject_name(original.subject)
        .issuer_name(issuer)
        .public_key(original.public_key())
        .serial_number(original.serial_number)
        .not_valid_before(original.not_valid_before_utc)
        .not_valid_after(original.not_valid_after_utc)
    )
    for extension in original.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    signed = builder.sign(stranger, hashes.SHA256())
    cer.write_bytes(signed.public_bytes(serialization.Encoding.DER))


def name(common: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


def test_an_issuer_that_is_not_sat(tmp_path: Path) -> None:
    cer, key, secret = issued(tmp_path)
    reissue(cer, name("AC Desconocida", "Otra Empresa"))
    local = findings(
        doctor(
            "--offline",
            "--endpoint-base",
            "http://127.0.0.1:1",
            "--json",
            cer=cer,
            key=key,
            password_file=secret,
        )
    )
    assert local["emisor"]["verdict"] == "error" and "AC Desconocida" in local["emisor"]["message"]
    assert local["resumen"]["exit_code"] == 3
    # The emulator's own e.firmas are for the emulator only: SAT itself refuses them.
    cer2, key2, secret2 = issued(tmp_path / "emulador")
    production = findings(doctor("--offline", "--json", cer=cer2, key=key2, password_file=secret2))
    assert production["emisor"]["verdict"] == "error"
    assert "de pruebas" in production["emisor"]["message"]


def test_sat_refusing_an_efirma_that_passes_every_offline_check(
    sat: Emulator, tmp_path: Path
) -> None:
    """The support question: the files are right, and SAT still refuses them. Said apart from
    a local fault, with what to check next (revoked or renewed e.firma, the clock)."""
    cer, key, secret = issued(tmp_path)
    reissue(
        cer,
        name(
            "AC DEL SERVICIO DE ADMINISTRACION TRIBUTARIA", "SERVICIO DE ADMINISTRACIÓN TRIBUTARIA"
        ),
    )
    result = doctor(
        "--endpoint-base", sat.base_url, "--json", cer=cer, key=key, password_file=secret
    )
    assert result.exit_code == 3, result.output
    found = findings(result)
    assert found["emisor"]["verdict"] == "bien" and found["emisor"]["issuer_kind"] == "sat"
    assert found["llave"]["verdict"] == "bien" and found["reloj"]["verdict"] == "bien"
    assert found["autenticacion"]["verdict"] == "error"
    assert "el SAT rechazó la autenticación" in found["autenticacion"]["message"]
    assert "revocada" in found["autenticacion"]["action"]


def test_sat_unavailable_at_autentica_exits_4() -> None:
    with emulator(faults="autentica=http503") as down:
        result = doctor("--endpoint-base", down.base_url, "--json")
    assert result.exit_code == 4, result.output
    found = findings(result)
    assert found["conexion_autenticacion"]["verdict"] == "bien"
    assert found["autenticacion"]["verdict"] == "error"
    assert "intente más tarde" in found["autenticacion"]["action"]


def test_an_inconclusive_signed_check_is_a_warning() -> None:
    with emulator(faults="verifica=error404") as flaky:
        result = doctor("--endpoint-base", flaky.base_url, "--json")
    assert result.exit_code == 0, result.output  # the e.firma authenticated: it works
    found = findings(result)
    assert found["firma"]["verdict"] == "aviso" and found["firma"]["sat_code"] == "404"
    assert found["resumen"]["warnings"] == 1


def test_a_wrong_endpoint_base_is_named(sat: Emulator) -> None:
    result = doctor("--endpoint-base", sat.base_url + "/otra", "--json")
    assert result.exit_code == 4
    found = findings(result)
    assert "HTTP 404" in found["conexion_solicitud"]["message"]
    assert "--endpoint-base" in found["conexion_solicitud"]["action"]


def test_an_unreachable_endpoint_exits_4() -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    result = doctor("--endpoint-base", base, "--json", "--timeout", "5")
    assert result.exit_code == 4, result.output
    found = findings(result)
    assert found["conexion_autenticacion"]["verdict"] == "error"
    assert "conexión rechazada" in found["conexion_autenticacion"]["message"]
    assert "emulator serve" in found["conexion_autenticacion"]["action"]
    assert found["autenticacion"]["verdict"] == "aviso" and found["reloj"]["verdict"] == "aviso"
    assert found["tipo"]["verdict"] == "bien"
    offline = doctor("--endpoint-base", base, "--offline")
    assert offline.exit_code == 0, offline.output  # nothing was sent


def test_a_skewed_clock_is_an_error_with_what_to_do() -> None:
    # The emulated SAT's clock runs ten minutes behind this machine's: its Autentica answer
    # says so in its Timestamp (it still accepts our real-time Timestamp).
    start = datetime.now(UTC) - timedelta(minutes=10)
    with emulator(start=start.replace(tzinfo=None)) as behind:
        result = doctor("--endpoint-base", behind.base_url, "--json")
        human = doctor("--endpoint-base", behind.base_url)
    assert result.exit_code == 3, result.output
    clock = findings(result)["reloj"]
    # 600 s, plus however long the emulator took to start after `start` was taken
    assert clock["verdict"] == "error" and 595 <= clock["skew_seconds"] <= 700
    assert "timedatectl" in clock["action"]
    assert " min adelantado respecto del SAT" in human.output
    assert findings(result)["autenticacion"]["verdict"] == "bien"


def test_json_lines_are_one_schema() -> None:
    result = doctor("--offline", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all({"event", "verdict"} <= line.keys() for line in lines)
    assert all({"message", "action"} <= line.keys() for line in lines[:-1])
    assert lines[-1]["event"] == "doctor_summary" and lines[-1]["exit_code"] == result.exit_code
    assert {line["verdict"] for line in lines} <= {"bien", "aviso", "error"}


def test_the_retenciones_family_is_checked_at_its_own_addresses(sat: Emulator) -> None:
    result = doctor("--endpoint-base", sat.base_url, "--service", "retenciones", "--json")
    assert result.exit_code == 0, result.output
    found = findings(result)
    assert all(
        "/retenciones/" in found[f"conexion_{name}"]["url"]
        for name in ("autenticacion", "solicitud", "verificacion", "descarga")
    )
    assert found["autenticacion"]["verdict"] == "bien"


def test_a_cer_that_is_not_a_certificate_still_checks_the_key(tmp_path: Path) -> None:
    junk = tmp_path / "mi.cer"
    junk.write_bytes(b"esto no es un certificado")
    result = doctor("--offline", "--json", cer=junk)
    assert result.exit_code == 3
    found = findings(result)
    assert found["certificado"]["verdict"] == "error" and "X.509" in found["certificado"]["message"]
    assert found["contrasena"]["verdict"] == "bien" and found["llave"]["verdict"] == "aviso"
    assert "tipo" not in found


@pytest.mark.parametrize(
    ("ours_minus_sat", "verdict", "said"),
    [
        (timedelta(seconds=-20), Verdict.GOOD, "coincide con el del SAT (diferencia -20.0 s"),
        (timedelta(minutes=3), Verdict.WARNING, "va 3 min adelantado"),
        (timedelta(seconds=-90), Verdict.WARNING, "va 90 s atrasado"),
        (timedelta(hours=-3), Verdict.ERROR, "va 3.0 h atrasado"),
    ],
)
def test_clock_bands(ours_minus_sat: timedelta, verdict: Verdict, said: str) -> None:
    sat_time = datetime(2026, 3, 1, 12, tzinfo=UTC)
    ours = sat_time + ours_minus_sat
    finding = clock_finding(Reading(sat_time, ours, ours, "encabezado Date de HTTP"))
    assert finding.verdict is verdict and said in finding.message
    assert (finding.action is None) == (verdict is Verdict.GOOD)
