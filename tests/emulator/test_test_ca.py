"""The emulator's own test CA: e.firmas issued for any RFC work against it; certificates from
any issuer but this CA and SAT's test CA are refused with 305, as SAT refuses them."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from satdescarga import Endpoints, Fiel, Query, SatClient
from satdescarga import generated as g
from satdescarga.cli import main
from satdescarga.codes import RequestState
from satdescarga.emulator import Emulator
from satdescarga.emulator.security.ca import (
    CA_SUBJECT,
    TEST_PASSWORD,
    FielIssueError,
    ca_certificate,
    issue_fiel,
)
from satdescarga.emulator.security.trust import issued_by_trusted_ca
from satdescarga.errors import CertificateExpiredError, FielPasswordError, SoapFault

from .conftest import (
    CSD_DIR,
    FAST,
    FIEL_DIR,
    SatCaller,
    autentica_envelope,
    make_fiel,
    metadata_rows,
)
from .test_autentica import INVALID_SECURITY

MID_2025 = datetime(2025, 6, 15, tzinfo=UTC)
OTHER_RFC = "XIA190128J61"


def _issue(rfc: str, out: Path, password: str = TEST_PASSWORD) -> Fiel:
    cer, key, _ = issue_fiel(rfc, out, password=password)
    return Fiel.load(cer, key, password)


def test_an_issued_fiel_loads_and_passes_check(tmp_path: Path) -> None:
    cer, key, secret = issue_fiel("GOMA800101AB1", tmp_path, name="ANA GÓMEZ", password="clave-1")
    assert (cer.name, key.name, secret.name) == (
        "GOMA800101AB1.cer",
        "GOMA800101AB1.key",
        "GOMA800101AB1-password.txt",
    )
    assert secret.read_text(encoding="utf-8") == "clave-1"
    fiel = Fiel.load(cer, key, "clave-1")
    fiel.check(MID_2025)
    assert fiel.rfc == "GOMA800101AB1" and fiel.legal_name == "ANA GÓMEZ"
    assert fiel.certificate.is_fiel and issued_by_trusted_ca(fiel.certificate)
    assert fiel.x509.issuer == ca_certificate().subject == CA_SUBJECT
    assert fiel.x509.signature_hash_algorithm is not None
    assert fiel.x509.signature_hash_algorithm.name == "sha256"
    assert fiel.public_key().key_size == 2048
    assert len(fiel.serial_number) == 20 and fiel.serial_number.isdigit()
    with pytest.raises(FielPasswordError):
        Fiel.load(cer, key, "otra")  # the .key is encrypted, as SAT's are
    with pytest.raises(CertificateExpiredError):
        fiel.check(datetime(2030, 1, 2, tzinfo=UTC))  # default validity: 2024-01-01..2030-01-01
    with pytest.raises(FielIssueError, match="ya contiene"):
        issue_fiel("GOMA800101AB1", tmp_path, password="clave-1")  # nothing is replaced


def test_the_ca_is_a_ca() -> None:
    ca = ca_certificate()
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.not_valid_before_utc == datetime(2020, 1, 1, tzinfo=UTC)
    assert ca.not_valid_after_utc == datetime(2045, 1, 1, tzinfo=UTC)
    assert ca.public_key().key_size == 2048  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "rfc", ["", "XIA19", "XIA191328J61", "XIA190132J61", "EKU9003173C9X", "12345678901234"]
)
def test_a_malformed_rfc_is_refused(rfc: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no es válido"):
        issue_fiel(rfc, tmp_path, password=TEST_PASSWORD)
    assert not any(tmp_path.iterdir())


def _self_signed_like_sat() -> x509.Certificate:
    """The subject, key usage and issuer Name of an e.firma, signed by its own key."""
    return make_fiel(OTHER_RFC, self_signed=True).x509


def _signed_by_an_impostor_ca(issuer: x509.Name) -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    genuine = make_fiel(OTHER_RFC).x509
    builder = (
        x509.CertificateBuilder()
        .subject_name(genuine.subject)
        .issuer_name(issuer)
        .public_key(genuine.public_key())
        .serial_number(genuine.serial_number)
        .not_valid_before(genuine.not_valid_before_utc)
        .not_valid_after(genuine.not_valid_after_utc)
    )
    return builder.sign(key, hashes.SHA256())


def test_only_the_two_test_cas_are_trusted() -> None:
    sat_fiel = x509.load_der_x509_certificate((FIEL_DIR / "EKU9003173C9.cer").read_bytes())
    sat_csd = x509.load_der_x509_certificate((CSD_DIR / "EKU9003173C9.cer").read_bytes())
    assert issued_by_trusted_ca(sat_fiel) and issued_by_trusted_ca(sat_csd)
    assert issued_by_trusted_ca(make_fiel(OTHER_RFC).x509)
    assert not issued_by_trusted_ca(_self_signed_like_sat())
    # The emulator CA's name is not enough: its signature is checked.
    assert not issued_by_trusted_ca(_signed_by_an_impostor_ca(CA_SUBJECT))
    # SAT's test CA is recognised by its whole issuer Name, not by a part of it.
    assert not issued_by_trusted_ca(_signed_by_an_impostor_ca(x509.Name(sat_fiel.issuer.rdns[:3])))
    assert issued_by_trusted_ca(_signed_by_an_impostor_ca(sat_fiel.issuer))  # documented


def test_an_issued_fiel_authenticates(tmp_path: Path) -> None:
    fiel = _issue(OTHER_RFC, tmp_path)
    with Emulator(**FAST) as sat, SatClient(fiel, Endpoints.local(sat.base_url)) as client:  # type: ignore[arg-type]
        assert client.authenticate().value.startswith("eyJ")
        assert sat.stats()["rfcs"][OTHER_RFC]["tokens_issued"]["cfdi"] == 1


def test_a_self_signed_fiel_cannot_authenticate(caller: SatCaller, sat: Emulator) -> None:
    forged = make_fiel(OTHER_RFC, self_signed=True)
    reply = caller.autentica_raw(autentica_envelope(forged))
    assert reply.status == 500 and reply.fault == INVALID_SECURITY  # as for a CSD
    assert sat.stats()["autentica_rejected"] == 1
    assert OTHER_RFC not in sat.stats()["rfcs"]
    client = SatClient(forged, Endpoints.local(sat.base_url), retries=1)
    with client, pytest.raises(SoapFault) as raised:
        client.authenticate()
    assert raised.value.code == INVALID_SECURITY[0]
    # The same certificate, issued by the test CA, is accepted.
    assert caller.autentica(make_fiel(OTHER_RFC)).startswith("eyJ")


def test_a_self_signed_signature_is_305_on_every_signed_operation(sat: Emulator) -> None:
    issued = make_fiel(OTHER_RFC, key_label="shared")
    forged = make_fiel(OTHER_RFC, key_label="shared", self_signed=True)
    caller = SatCaller(sat, fiel=issued)
    caller.autentica()  # the token is good: only the signing certificate is wrong
    end = datetime(2025, 1, 31)
    emitidos = g.SolicitaDescargaEmitidos(
        solicitud=g.SolicitudDescargaMasivaTerceroEmitidos(
            rfc_emisor=OTHER_RFC,
            rfc_solicitante=OTHER_RFC,
            tipo_solicitud=g.TipoDescargaMasivaTerceros.METADATA,
            fecha_inicial=end - timedelta(days=30),
            fecha_final=end,
        )
    )
    solicita = caller.solicita_result(caller.send(g.SOLICITA_DESCARGA_EMITIDOS, emitidos))
    assert solicita.cod_estatus == "5000"  # issued by the CA: accepted
    refused = caller.solicita_result(
        caller.send(g.SOLICITA_DESCARGA_EMITIDOS, emitidos, fiel=forged)
    )
    assert (refused.cod_estatus, refused.mensaje) == ("305", "Certificado Inválido")
    verifica = g.VerificaSolicitudDescarga(
        solicitud=g.VerificaSolicitudDescargaMasivaTercero(
            id_solicitud=str(solicita.id_solicitud), rfc_solicitante=OTHER_RFC
        )
    )
    reply = caller.send(g.VERIFICA_SOLICITUD_DESCARGA, verifica, fiel=forged)
    assert b'CodEstatus="305"' in reply.content
    descargar = g.PeticionDescargaMasivaTercerosEntrada(
        peticion_descarga=g.PeticionDescargaMasivaTerceros(
            id_paquete=f"{solicita.id_solicitud}_01", rfc_solicitante=OTHER_RFC
        )
    )
    reply = caller.send(g.DESCARGAR, descargar, fiel=forged)
    header = reply.header("{http://DescargaMasivaTerceros.sat.gob.mx}respuesta")
    assert header is not None and header.get("CodEstatus") == "305"


def _metadata(fiel: Fiel, folder: Path) -> list[dict[str, str]]:
    """Every metadata row SAT has for the RFC's issued CFDI of January 2025."""
    start = datetime(2025, 3, 1, tzinfo=UTC)
    with (
        Emulator(start=start, daily_documents=6, **FAST) as sat,  # type: ignore[arg-type]
        SatClient(fiel, Endpoints.local(sat.base_url)) as client,
    ):
        query = Query(start=datetime(2025, 1, 1), end=datetime(2025, 1, 31, 23, 59, 59))
        request_id = client.query(query).request_id
        assert request_id
        result = client.verify(request_id)
        for _ in range(20):
            if result.state is RequestState.FINISHED:
                break
            sat.advance(minutes=1)
            result = client.verify(request_id)
        assert result.state is RequestState.FINISHED, result
        rows = []
        for package_id in result.package_ids:
            download = client.download(package_id, folder / f"{package_id}.zip")
            assert download.path is not None
            with zipfile.ZipFile(download.path) as archive:
                rows += metadata_rows(archive)
    return rows


def test_each_issued_rfc_has_its_own_deterministic_documents(tmp_path: Path) -> None:
    first = _issue("XIA190128J61", tmp_path / "a")
    second = _issue("GOMA800101AB1", tmp_path / "b")
    rows_first = _metadata(first, tmp_path / "a")
    rows_second = _metadata(second, tmp_path / "b")
    assert rows_first and rows_second
    assert {row["RfcEmisor"] for row in rows_first} == {"XIA190128J61"}
    assert {row["RfcEmisor"] for row in rows_second} == {"GOMA800101AB1"}
    assert not {row["Uuid"] for row in rows_first} & {row["Uuid"] for row in rows_second}
    # Another emulator instance, another e.firma for the same RFC: the same documents.
    again = _issue("XIA190128J61", tmp_path / "c")
    assert again.serial_number != first.serial_number
    assert _metadata(again, tmp_path / "c") == rows_first


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["emulator", "issue-fiel", *args])
    return result.exit_code, result.output


def test_the_cli_issues_a_fiel(tmp_path: Path) -> None:
    password_file = tmp_path / "clave.txt"
    password_file.write_text("Secreta-Única-42\n", encoding="utf-8")
    out = tmp_path / "fiel"
    code, output = _cli(
        "--rfc", "goma800101ab1", "--out", str(out), "--password-file", str(password_file)
    )
    assert code == 0, output
    cer, key, secret = (out / f"GOMA800101AB1{end}" for end in (".cer", ".key", "-password.txt"))
    for path in (cer, key, secret):
        assert str(path) in output
    assert "Secreta-Única-42" not in output
    assert secret.read_text(encoding="utf-8") == "Secreta-Única-42"
    fiel = Fiel.load(cer, key, "Secreta-Única-42")
    fiel.check(MID_2025)
    assert issued_by_trusted_ca(fiel.certificate)

    code, output = _cli("--rfc", OTHER_RFC, "--out", str(out), "--name", "XENON INDUSTRIAL")
    assert code == 0, output
    assert TEST_PASSWORD not in output
    default = Fiel.load(out / f"{OTHER_RFC}.cer", out / f"{OTHER_RFC}.key", TEST_PASSWORD)
    assert default.legal_name == "XENON INDUSTRIAL"
    assert (out / f"{OTHER_RFC}-password.txt").read_text(encoding="utf-8") == TEST_PASSWORD


def test_the_cli_refuses_a_bad_rfc(tmp_path: Path) -> None:
    code, output = _cli("--rfc", "NO-ES-RFC", "--out", str(tmp_path / "fiel"))
    assert code == 2
    assert output.strip().splitlines() == [
        "Error: el RFC 'NO-ES-RFC' no es válido: tiene 9 caracteres; debe tener 12 (persona "
        "moral) o 13 (persona física) (p. ej. EKU9003173C9)"
    ]
    assert not (tmp_path / "fiel").exists()


@pytest.mark.parametrize(
    ("rfc", "problem"),
    [
        ("BBB020202BBB", "el dígito verificador (el último carácter) debe ser un número o A"),
        ("BBB02020BB1", "tiene 11 caracteres"),
        ("1BB020202BB1", "sus primeros 3 caracteres deben ser letras (A-Z, Ñ, &), no «1BB»"),
        ("BBBB02A202BB1", "la fecha AAMMDD en números, no «02A202»"),
        ("BBB021302BB1", "«021302» no es una fecha AAMMDD"),
        ("BBB020202B-1", "la homoclave «B-» debe ser de letras (A-Z) o números"),
    ],
)
def test_a_bad_rfc_is_refused_naming_the_real_problem(
    rfc: str, problem: str, tmp_path: Path
) -> None:
    code, output = _cli("--rfc", rfc, "--out", str(tmp_path / "fiel"))
    assert code == 2 and problem in output, output
    assert "12 o 13" not in output and not (tmp_path / "fiel").exists()


def test_a_check_digit_sat_would_not_compute_is_issued_with_a_warning(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["emulator", "issue-fiel", "--rfc", "ACE900319JT9", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output  # in use at SAT with a "wrong" check digit
    assert "dígito verificador de ACE900319JT9 no es el que calcula el SAT (3)" in result.stderr
    quiet = CliRunner().invoke(
        main, ["emulator", "issue-fiel", "--rfc", "XIA190128J61", "--out", str(tmp_path / "b")]
    )
    assert quiet.exit_code == 0 and "Aviso" not in quiet.stderr
