"""The command line against the emulator: output, --json, exit codes, credentials, no tracebacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from satdescarga.cli import main
from satdescarga.emulator import Emulator

from ..sync.conftest import FIEL_DIR, PASSWORD_FILE, RFC, SINCE, emulator

CSD_DIR = FIEL_DIR.parent / "sat-test-csd"
MONTH = (f"{SINCE:%Y}-03-01", f"{SINCE:%Y}-03-31")


@pytest.fixture(scope="module")
def sat() -> Iterator[Emulator]:
    with emulator() as running:
        yield running


def invoke(*args: str, env: dict[str, str] | None = None, folder: Path = FIEL_DIR) -> Result:
    credentials = [
        "--cer",
        str(folder / "EKU9003173C9.cer"),
        "--key",
        str(folder / "EKU9003173C9.key"),
    ]
    return CliRunner().invoke(main, [*args[:1], *credentials, *args[1:]], env=env)


def with_password(sat: Emulator, command: str, *args: str) -> Result:
    return invoke(
        command, "--password-file", str(PASSWORD_FILE), "--endpoint-base", sat.base_url, *args
    )


def test_auth_prints_the_fiel_and_authenticates(sat: Emulator) -> None:
    result = with_password(sat, "auth")
    assert result.exit_code == 0, result.output
    assert f"RFC {RFC}" in result.output and "Autenticado en cfdi" in result.output
    data = json.loads(with_password(sat, "auth", "--json").output)
    assert data["rfc"] == RFC and data["certificate_type"] == "e.firma" and data["serial_number"]


def test_password_from_the_environment_and_wrong_password_exit_3(sat: Emulator) -> None:
    ok = invoke(
        "auth",
        "--endpoint-base",
        sat.base_url,
        env={"SATDESCARGA_PASSWORD": PASSWORD_FILE.read_text().strip()},
    )
    assert ok.exit_code == 0, ok.output
    bad = invoke("auth", "--endpoint-base", sat.base_url, env={"SATDESCARGA_PASSWORD": "nope"})
    assert bad.exit_code == 3
    assert "contraseña" in bad.output and "Traceback" not in bad.output and "nope" not in bad.output


def test_csd_is_refused_with_exit_3(sat: Emulator) -> None:
    result = invoke(
        "auth",
        "--password-file",
        str(CSD_DIR / "EKU9003173C9-password.txt"),
        "--endpoint-base",
        sat.base_url,
        folder=CSD_DIR,
    )
    assert result.exit_code == 3 and "CSD" in result.output


def test_password_on_the_command_line_warns(sat: Emulator) -> None:
    result = invoke(
        "auth", "--password", PASSWORD_FILE.read_text().strip(), "--endpoint-base", sat.base_url
    )
    assert result.exit_code == 0
    assert "historial" in result.stderr


def test_missing_password_without_a_terminal_is_a_usage_error(sat: Emulator) -> None:
    unset = CliRunner().invoke(
        main,
        [
            "auth",
            "--cer",
            str(FIEL_DIR / "EKU9003173C9.cer"),
            "--key",
            str(FIEL_DIR / "EKU9003173C9.key"),
            "--endpoint-base",
            sat.base_url,
        ],
        env={"SATDESCARGA_PASSWORD": None},
    )
    assert unset.exit_code == 2 and "contraseña" in unset.output


def test_query_verify_download(sat: Emulator, tmp_path: Path) -> None:
    queried = with_password(sat, "query", "--since", MONTH[0], "--until", MONTH[1], "--json")
    assert queried.exit_code == 0, queried.output
    request_id = json.loads(queried.output)["request_id"]
    verified = json.loads(with_password(sat, "verify", request_id, "--json").output)
    assert verified["state"] == 3 and verified["package_ids"]
    downloaded = with_password(
        sat, "download", *verified["package_ids"], "--out", str(tmp_path), "--json"
    )
    assert downloaded.exit_code == 0, downloaded.output
    rows = [json.loads(line) for line in downloaded.output.splitlines()]
    assert [Path(r["file"]).name for r in rows] == [f"{p}.zip" for p in verified["package_ids"]]
    again = with_password(sat, "download", verified["package_ids"][0], "--out", str(tmp_path / "b"))
    third = with_password(sat, "download", verified["package_ids"][0], "--out", str(tmp_path / "c"))
    assert again.exit_code == 0 and third.exit_code == 1 and "5008" in third.output


def test_invalid_query_is_a_usage_error(sat: Emulator) -> None:
    result = with_password(sat, "query", "--since", MONTH[1], "--until", MONTH[0])
    assert result.exit_code == 2 and "anterior a su fin" in result.output
    assert "Traceback" not in result.output


def test_network_problem_exits_4() -> None:
    result = invoke(
        "auth",
        "--password-file",
        str(PASSWORD_FILE),
        "--endpoint-base",
        "http://127.0.0.1:9",
        "--timeout",
        "1",
    )
    assert result.exit_code == 4 and "no se pudo conectar" in result.output


def test_sync_json_events_then_status(sat: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = with_password(
        sat,
        "sync",
        "--issued",
        "--metadata",
        "--since",
        MONTH[0],
        "--until",
        MONTH[1],
        "--out",
        str(out),
        "--poll",
        "0.01",
        "--export",
        "csv",
        "--export",
        "parquet",
        "--json",
    )
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    summary = events[-1]
    assert (
        summary["event"] == "summary" and summary["complete"] and summary["total"]["documents"] > 0
    )
    assert {"plan", "query", "verify", "download", "read"} <= {e["event"] for e in events}
    import csv

    import pyarrow.parquet as pq

    assert (out / "metadata.csv").read_bytes().startswith("\ufeffUuid,RfcEmisor,".encode())
    with (out / "metadata.csv").open(encoding="utf-8-sig", newline="") as exported:
        rows = list(csv.reader(exported))
    assert rows[0][0] == "Uuid" and len(rows) == summary["total"]["documents"] + 1

    assert pq.read_table(out / "metadata.parquet").num_rows == summary["total"]["documents"]
    status = CliRunner().invoke(main, ["status", "--out", str(out), "--json"])
    data = json.loads(status.output)
    assert data["total"]["windows"] == {"done": 1}
    assert data["total"]["documents"] == summary["total"]["documents"]


def test_status_without_a_ledger_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no hay ledger" in result.output


def test_demo_runs_offline(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--out", str(tmp_path / "demo"), "--documents-per-day", "1", "--json"]
    )
    assert result.exit_code == 0, result.output[-2000:]
    summary = json.loads(result.output.splitlines()[-1])
    assert summary["complete"] and summary["total"]["windows"] == 48
    assert list((tmp_path / "demo" / RFC / "emitidos").rglob("*.xml"))
    refused = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])  # not a demo folder
    assert refused.exit_code == 2


def _leaf_commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_command_has_json_and_debug() -> None:
    """As the README says: every command accepts --json and --debug."""
    commands = dict(_leaf_commands(main))
    assert {"selfcheck", "emulator serve", "demo", "read", "sync"} <= commands.keys()
    for name, command in commands.items():
        options = {opt for param in command.params for opt in param.opts}
        assert {"--json", "--debug"} <= options, name


def test_selfcheck_json() -> None:
    result = CliRunner().invoke(main, ["selfcheck", "--json", "--debug"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1] == {"event": "selfcheck", "ok": True, "failures": 0}
    assert {line["operation"] for line in lines[:-1]} >= {"Autentica", "Descargar"}
    assert all(line["ok"] and line["problems"] == [] for line in lines[:-1])


def test_read_json_summary(tmp_path: Path) -> None:
    from ..conftest import CONFORMANCE

    package = CONFORMANCE / "zip" / "metadata.zip"
    result = CliRunner().invoke(
        main, ["read", str(package), "--out", str(tmp_path / "m.csv"), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["event"] == "read_summary"
    assert summary["records"] == 2 and summary["packages"] == 1


def test_the_password_option_never_shows_in_a_repr() -> None:
    from satdescarga.cli.common import Sat

    sat = Sat(Path("a.cer"), Path("a.key"), None, "contraseña-secreta", "cfdi", None, 1.0)
    assert "contraseña-secreta" not in repr(sat) and "contraseña-secreta" not in str(sat)
