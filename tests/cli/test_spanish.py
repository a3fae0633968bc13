"""click's own messages in Spanish, whatever the locale: help, usage errors, unknown options."""

from __future__ import annotations

import ast
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from satdescarga import __version__
from satdescarga.cli import main, spanish

from ..conftest import ROOT
from ..sync.conftest import FIEL_DIR

CER = str(FIEL_DIR / "EKU9003173C9.cer")
KEY = str(FIEL_DIR / "EKU9003173C9.key")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def usage_error(command: str, message: str) -> str:
    return (
        f"Uso: satdescarga {command} [OPCIONES]\n"
        f"Pruebe 'satdescarga {command} --help' para ver la ayuda.\n"
        "\n"
        f"Error: {message}\n"
    )


def test_group_help() -> None:
    result = CliRunner().invoke(main, ["--help"], terminal_width=80)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[:9] == [
        "Uso: satdescarga [OPCIONES] COMANDO [ARGUMENTOS]...",
        "",
        "  satdescarga: Descarga Masiva de CFDI y Retenciones del SAT.",
        "",
        "Opciones:",
        "  --version  Muestra la versión y termina.",
        "  --help     Muestra este mensaje y termina.",
        "",
        "Comandos:",
    ]
    assert "  selfcheck  Comprueba el contrato: arma y valida una petición por operación." in lines
    assert run("--version").stdout == f"satdescarga, versión {__version__}\n"


def test_command_help() -> None:
    result = CliRunner().invoke(main, ["selfcheck", "--help"], terminal_width=80)
    assert result.exit_code == 0
    assert result.stdout == (
        "Uso: satdescarga selfcheck [OPCIONES]\n"
        "\n"
        "  Comprueba el contrato: arma y valida una petición por operación.\n"
        "\n"
        "Opciones:\n"
        "  --json   Salida JSON, una línea por evento.\n"
        "  --debug  Muestra el detalle técnico de los errores.\n"
        "  --help   Muestra este mensaje y termina.\n"
    )
    verify = CliRunner().invoke(main, ["verify", "--help"], terminal_width=80)
    lines = verify.stdout.splitlines()
    assert lines[0] == "Uso: satdescarga verify [OPCIONES] ID_SOLICITUD"
    assert "Opciones:" in lines
    assert "  --cer ARCHIVO                 Certificado de la e.firma (.cer).  [obligatorio]" in (
        lines
    )
    assert "  --timeout NÚMERO              Segundos de espera de lectura por llamada.  [por" in (
        lines
    )
    assert "                                omisión: 120.0]" in lines
    assert lines[-1] == "  --help                        Muestra este mensaje y termina."
    for english in ("Usage", "Options", "default", "required", "Show this"):
        assert english not in verify.stdout


def test_missing_required_option() -> None:
    result = run("query")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == usage_error("query", "Falta la opción '--cer'.")


def test_nonexistent_certificate_file() -> None:
    result = run("auth", "--cer", "no-existe.cer", "--key", KEY)
    assert result.exit_code == 2
    assert result.stderr == usage_error(
        "auth", "Valor no válido para '--cer': Archivo 'no-existe.cer' no existe."
    )


def test_bad_date() -> None:
    result = run("sync", "--cer", CER, "--key", KEY, "--since", "2025-13-45")
    assert result.exit_code == 2
    assert result.stderr == usage_error(
        "sync",
        "Valor no válido para '--since': '2025-13-45' no es una fecha: use AAAA-MM-DD (el día "
        "completo) o AAAA-MM-DDTHH:MM:SS",
    )


def test_bad_choice() -> None:
    result = run("read", "paquete.zip", "--format", "docx")
    assert result.exit_code == 2
    assert result.stderr == (
        "Uso: satdescarga read [OPCIONES] PAQUETE...\n"
        "Pruebe 'satdescarga read --help' para ver la ayuda.\n"
        "\n"
        "Error: Valor no válido para '--format': 'docx' no es una de las opciones: 'csv', "
        "'jsonl', 'sqlite', 'parquet', 'xlsx'.\n"
    )


def test_unknown_option_and_command() -> None:
    result = run("status", "--frobnicate")
    assert result.exit_code == 2
    assert result.stderr == usage_error("status", "No existe la opción '--frobnicate'.")
    close = run("status", "--jsn")
    assert close.stderr == usage_error(
        "status", "No existe la opción '--jsn'. ¿Quiso decir '--json'?"
    )
    unknown = run("querry")
    assert unknown.exit_code == 2
    assert unknown.stderr == (
        "Uso: satdescarga [OPCIONES] COMANDO [ARGUMENTOS]...\n"
        "Pruebe 'satdescarga --help' para ver la ayuda.\n"
        "\n"
        "Error: No existe el comando 'querry'. ¿Quiso decir 'query'?\n"
    )


def test_missing_argument() -> None:
    result = run("read")
    assert result.exit_code == 2
    assert result.stderr == (
        "Uso: satdescarga read [OPCIONES] PAQUETE...\n"
        "Pruebe 'satdescarga read --help' para ver la ayuda.\n"
        "\n"
        "Error: Falta el argumento 'PAQUETE...'.\n"
    )


@pytest.mark.parametrize("language", ["en_US.UTF-8", "fr_FR.UTF-8", "C"])
def test_the_real_command_speaks_spanish_in_any_locale(language: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "LANG": language,
        "LC_ALL": language,
        "LANGUAGE": language.split("_")[0],
    }
    done = subprocess.run(
        [sys.executable, "-m", "satdescarga", "auth", "--cer", "no-existe.cer", "--key", KEY],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "Uso: python -m satdescarga auth [OPCIONES]\n"
        "Pruebe 'python -m satdescarga auth --help' para ver la ayuda.\n"
        "\n"
        "Error: Valor no válido para '--cer': Archivo 'no-existe.cer' no existe.\n"
    )


def test_other_click_programs_in_the_same_process_keep_their_language() -> None:
    @click.command()
    @click.option("--count", type=int, required=True)
    def other(count: int) -> None:
        """Another program."""

    result = CliRunner().invoke(other, [])
    assert result.stderr.splitlines()[0] == "Usage: other [OPTIONS]"
    assert result.stderr.splitlines()[-1] == "Error: Missing option '--count'."
    assert "Falta" not in result.output


def _click_msgids() -> tuple[set[str], set[tuple[str, str]]]:
    """Every literal click passes to `_` and `ngettext`, read from the installed click."""
    singles: set[str] = set()
    plurals: set[tuple[str, str]] = set()
    for source in Path(click.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            texts = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if node.func.id == "_" and texts and isinstance(texts[0], str):
                singles.add(texts[0])
            elif node.func.id == "ngettext" and len(texts) >= 2:
                plurals.add((str(texts[0]), str(texts[1])))
    return singles, plurals


def test_the_catalog_covers_the_installed_click() -> None:
    singles, plurals = _click_msgids()
    assert len(singles) > 50 and len(plurals) >= 7
    assert singles - spanish.MESSAGES.keys() == set()
    assert plurals - spanish.PLURALS.keys() == set()
    for msgid, text in spanish.MESSAGES.items():  # the same placeholders
        assert sorted(_fields(msgid)) == sorted(_fields(text)), msgid
    for (singular, plural), (one, many) in spanish.PLURALS.items():
        assert _fields(singular) == _fields(one) and _fields(plural) == _fields(many), singular


def _fields(text: str) -> set[str]:
    import string

    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path: Path) -> None:
    """`satdescarga ... | head`: no traceback, no "error inesperado", the SIGPIPE status."""
    from satdescarga.sync import documents, listings
    from satdescarga.sync.store import DATABASE

    out = tmp_path / "facturas"
    out.mkdir()
    documents.prepare(out / DATABASE, datetime(2025, 3, 1))
    db = sqlite3.connect(out / DATABASE)
    try:
        db.executemany(
            "INSERT INTO metadata (uuid, estatus) VALUES (?, 'Vigente')",
            [(f"U{i:05d}",) for i in range(20000)],
        )
        db.commit()
    finally:
        db.close()
    listings.ensure_indexes(out / DATABASE)  # as a sync leaves the folder
    command = [sys.executable, "-m", "satdescarga", "changes", "--out", str(out), "--format", "csv"]
    shell = " ".join(f"'{part}'" for part in command) + " | head -1"
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {shell}"], capture_output=True, text=True, check=False
    )
    assert result.stdout.startswith("Uuid,Cambio")
    assert result.stderr == "" and result.returncode == 141
