"""Password files people really have (Notepad's BOM, "Unicode" UTF-16, CRLF, empty, not text),
read one way by every command that takes `--password-file`."""

from __future__ import annotations

import base64
import codecs
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from satdescarga.cli import main
from satdescarga.emulator import Emulator
from satdescarga.fiel import Fiel

from ..sync.conftest import FIEL_DIR, PASSWORD_FILE, RFC, emulator

PASSWORD = PASSWORD_FILE.read_text().strip()


@pytest.fixture(scope="module")
def sat() -> Iterator[Emulator]:
    with emulator() as running:
        yield running


def auth(sat: Emulator, password_file: Path, *extra: str) -> Result:
    return CliRunner().invoke(
        main,
        [
            "auth",
            "--cer",
            str(FIEL_DIR / "EKU9003173C9.cer"),
            "--key",
            str(FIEL_DIR / "EKU9003173C9.key"),
            "--password-file",
            str(password_file),
            "--endpoint-base",
            sat.base_url,
            *extra,
        ],
    )


@pytest.mark.parametrize(
    "content",
    [
        codecs.BOM_UTF8 + PASSWORD.encode() + b"\r\n",  # Notepad, UTF-8 with BOM
        codecs.BOM_UTF8 + PASSWORD.encode(),
        (PASSWORD + "\r\n").encode("utf-16"),  # Notepad's "Unicode": UTF-16 LE with BOM
        codecs.BOM_UTF16_BE + PASSWORD.encode("utf-16-be") + "\n".encode("utf-16-be"),
        (PASSWORD + "\n").encode(),  # echo
        PASSWORD.encode(),
    ],
    ids=["utf8-bom-crlf", "utf8-bom", "utf16le-bom", "utf16be-bom", "newline", "bare"],
)
def test_a_correct_password_is_correct_whatever_the_editor(
    sat: Emulator, tmp_path: Path, content: bytes
) -> None:
    secret = tmp_path / "clave.txt"
    secret.write_bytes(content)
    result = auth(sat, secret)
    assert result.exit_code == 0, result.output
    assert f"RFC {RFC}" in result.output and "Autenticado" in result.output


@pytest.mark.parametrize(
    ("content", "sentence"),
    [
        (b"", "el archivo de contraseña está vacío"),
        (b"\r\n", "el archivo de contraseña está vacío"),
        (codecs.BOM_UTF8, "el archivo de contraseña está vacío"),
        ("contraseña".encode("cp1252"), "no es texto UTF-8 (ni UTF-16 con BOM)"),
        ("12345678a".encode("utf-16-le"), "no es texto (trae caracteres nulos)"),
    ],
    ids=["empty", "only-newline", "only-bom", "latin1", "utf16-without-bom"],
)
def test_a_file_without_a_password_says_so_with_exit_2(
    sat: Emulator, tmp_path: Path, content: bytes, sentence: str
) -> None:
    secret = tmp_path / "clave.txt"
    secret.write_bytes(content)
    result = auth(sat, secret)
    assert result.exit_code == 2, result.output
    assert sentence in result.output and str(secret) in result.output
    assert "no es correcta" not in result.output and "inesperado" not in result.output
    as_json = auth(sat, secret, "--json")
    assert as_json.exit_code == 2
    assert sentence in json.loads(as_json.output.splitlines()[-1])["message"]


def test_issue_fiel_and_fleet_add_read_the_password_file_the_same_way(tmp_path: Path) -> None:
    secret = tmp_path / "clave.txt"
    secret.write_bytes(codecs.BOM_UTF8 + b"otra-clave-1\r\n")
    issued = CliRunner().invoke(
        main,
        [
            "emulator",
            "issue-fiel",
            "--rfc",
            "EKU9003173C9",
            "--out",
            str(tmp_path / "e"),
            "--password-file",
            str(secret),
        ],
    )
    assert issued.exit_code == 0, issued.output
    Fiel.load(
        tmp_path / "e" / "EKU9003173C9.cer", tmp_path / "e" / "EKU9003173C9.key", "otra-clave-1"
    )
    empty = tmp_path / "vacia.txt"
    empty.write_bytes(b"")
    refused = CliRunner().invoke(
        main,
        [
            "emulator",
            "issue-fiel",
            "--rfc",
            "EKU9003173C9",
            "--out",
            str(tmp_path / "f"),
            "--password-file",
            str(empty),
        ],
    )
    assert refused.exit_code == 2 and "está vacío" in refused.output
    fleet = CliRunner().invoke(
        main,
        [
            "fleet",
            "add",
            "--cer",
            str(FIEL_DIR / "EKU9003173C9.cer"),
            "--key",
            str(FIEL_DIR / "EKU9003173C9.key"),
            "--password-file",
            str(empty),
        ],
        env={
            "SATDESCARGA_DB": "postgresql://nadie@127.0.0.1:1/nada",
            "SATDESCARGA_MASTER_KEY": base64.urlsafe_b64encode(bytes(32)).decode(),
        },
    )
    assert fleet.exit_code == 2 and "está vacío" in fleet.output, fleet.output
