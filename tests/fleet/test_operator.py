"""What an operator new to the fleet sees: every mistake one Spanish sentence with its exit
code (no driver error, no traceback), a busy metrics port named as such, and a `fleet status`
that shows any text as text (an error holding rich markup) without cutting it when piped."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
from sqlalchemy import text

from satdescarga.drills.throwaway import ThrowawayPostgres
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import engine_for
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.vault import ENV_KEY, MasterKey

from .conftest import EKU, sat_test_fiel
from .test_cli import run

MARKUP = "falló [/] y luego [bold]esto[/bold] \\[x] [link=http://x]y[/link]"


def test_status_shows_markup_as_text_and_never_cuts_a_value_when_piped(
    fleet_db: str, master_key: MasterKey
) -> None:
    engine = engine_for(fleet_db)
    taxpayers.add(engine, master_key, sat_test_fiel(), Policy(since="2025-01-01"))
    with engine.begin() as db:
        db.execute(
            text("UPDATE taxpayers SET state = 'con_error', reason = :e, last_error = :e"),
            {"e": MARKUP},
        )
    engine.dispose()
    code, output = run(["status"], {"SATDESCARGA_DB": fleet_db})  # piped: not a terminal
    assert code == 0, output
    row = next(line for line in output.splitlines() if EKU in line)
    assert MARKUP in row  # every character, on the taxpayer's one line
    assert len(row) > 80
    for header in ("estado", "al día hasta", "pendientes", "perdidos", "e.firma hasta", "motivo"):
        assert header in output
    assert "1 contribuyentes: con_error: 1" in output


def test_a_busy_metrics_port_or_a_spool_it_cannot_write_stop_a_worker_in_one_sentence(
    fleet_db: str, tmp_path: Path
) -> None:
    env = {"SATDESCARGA_DB": fleet_db, ENV_KEY: MasterKey.generate()}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, output = run(["worker", "--spool", str(tmp_path / "spool"), "--metrics-port",
                            str(port), "--metrics-host", "127.0.0.1"], env)  # fmt: skip
    assert code == 2, output
    assert output.strip() == (
        f"Error: el puerto {port} de métricas ya está en uso: elija otro con --metrics-port"
    )
    code, output = run(["worker", "--spool", str(tmp_path / "spool"), "--metrics-port",
                        "9", "--metrics-host", "192.0.2.1"], env)  # fmt: skip
    assert code == 2 and "192.0.2.1 de --metrics-host no es de esta máquina" in output, output
    not_a_folder = tmp_path / "archivo"
    not_a_folder.write_text("")
    code, output = run(["worker", "--spool", str(not_a_folder / "spool")], env)
    assert code == 6 and output.startswith("Error: falla local, no del SAT"), output
    assert str(not_a_folder / "spool") in output


def test_fleet_commands_on_a_database_not_initialized_or_unreachable_say_so(
    postgres: ThrowawayPostgres,
) -> None:
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE nunca_init")
    bare = postgres.url.rsplit("/", 1)[0] + "/nunca_init"
    for args in (["status"], ["list"], ["remove", EKU], ["policy", EKU, "--every-hours", "2"]):
        code, output = run(args, {"SATDESCARGA_DB": bare})
        assert code == 2, (args, output)
        assert output.strip().endswith("ejecute 'satdescarga fleet init --db URL'"), output
        code, output = run(args, {"SATDESCARGA_DB": "postgresql://nadie@127.0.0.1:1/x"})
        assert code == 2 and "no se pudo conectar a la base de datos" in output, output
        assert "inesperado" not in output and "Traceback" not in output


def test_worker_options_that_cannot_work_are_refused_at_start() -> None:
    env = {"SATDESCARGA_DB": "postgresql://nadie@127.0.0.1:1/x"}
    for args, said in (
        (["--rate", "0"], "'--rate': 0.0 no está en el intervalo x>0"),
        (["--heartbeat", "30", "--stalled-after", "10"], "mayor que --heartbeat"),
        (["--pause-base", "60", "--pause-max", "30"], "no puede ser menor que --pause-base"),
        (["--endpoint-base", "emulador:8000"], "una URL http:// o https://"),
        (["--metrics-port", "70000"], "'--metrics-port': 70000 no está en el intervalo"),
    ):
        code, output = run(["worker", *args], env)
        assert code == 2 and said in output, (args, output)
