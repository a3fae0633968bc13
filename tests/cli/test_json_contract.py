"""`--json` is one contract: every line on standard output is a JSON event declared in
`satdescarga.cli.jsonout` (English keys), errors included, click's usage errors too; the
documentation (docs/json.md) is generated from the same declarations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from satdescarga.cli import jsonout, main

from ..conftest import ROOT
from ..sync.conftest import FIEL_DIR, PASSWORD_FILE

CER, KEY = str(FIEL_DIR / "EKU9003173C9.cer"), str(FIEL_DIR / "EKU9003173C9.key")
NOWHERE = "/nonexistent/satdescarga-json-contract"
SAT = ["--cer", CER, "--key", KEY, "--endpoint-base", "http://127.0.0.1:9"]
PASSWORD = ["--password-file", str(PASSWORD_FILE)]

BAD_INPUTS: dict[str, list[str]] = {
    "selfcheck": ["--unknown-option"],
    "doctor": ["--service", "nope"],  # not a service family
    "auth": [*SAT],  # no password: no --password-file, no variable, no terminal to ask on
    "query": [*SAT, *PASSWORD, "--since", "2025-02-30"],  # not a date
    "verify": [*SAT, *PASSWORD],  # ID_SOLICITUD missing
    "download": ["--cer", NOWHERE, "--key", KEY, "X_01"],  # no such certificate
    "sync": [*SAT, *PASSWORD, "--out", NOWHERE, "--since", "2025-01-01", "--until", "ayer"],
    "status": ["--out", NOWHERE],  # no ledger there
    "changes": ["--out", NOWHERE],  # no outputs there
    "report": ["--out", NOWHERE, "--month", "2025-13"],
    "read": ["paquete.zip"],  # tables to standard output: not with --json
    "emulator serve": ["--faults", "no-such-fault"],
    "emulator issue-fiel": ["--rfc", "XYZ", "--out", NOWHERE],
    "demo": ["--documents-per-day", "0"],
    "fleet init": [],  # no --db
    "fleet new-key": [],  # no --out
    "fleet add": ["--db", "postgresql://127.0.0.1:9/x", "--cer", CER, "--key", KEY],
    "fleet list": [],
    "fleet remove": ["--db", "postgresql://127.0.0.1:9/x"],  # RFC missing
    "fleet renew": ["--db", "postgresql://127.0.0.1:9/x", "--cer", CER, "--key", KEY],
    "fleet policy": [],
    "fleet reset": [],  # no --db
    "fleet rotate-key": [],
    "fleet worker": ["--concurrency", "0"],
    "fleet status": [],
    "fleet demo": ["--taxpayers", "0"],
    "fleet user add": ["nadie", "--role", "jefe"],  # not a role
    "fleet user list": [],  # no --db
    "fleet user remove": [],  # NAME missing
    "fleet user password": ["nadie"],  # no --password-file
    "fleet token add": ["erp", "--role", "viewer", "--rfc", "XYZ"],  # no --db
    "fleet token list": [],  # no --db
    "fleet token revoke": ["--db", "postgresql://127.0.0.1:9/x", "uno"],  # not a number
    "serve": [],  # no source: --db or --out
}
"""A mistake per command (every command must have one: a new command joins the contract)."""


def leaf_commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from leaf_commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def events(result: Result) -> list[dict[str, Any]]:
    """Every line of standard output, checked against the declared events and keys."""
    lines = [json.loads(text) for text in result.stdout.splitlines()]
    for line in lines:
        assert isinstance(line, dict) and line.get("event") in jsonout.EVENTS, line
        declared = jsonout.EVENTS[line["event"]][2]
        assert set(line) - {"event"} <= set(declared), line
    return lines


def invoke(args: list[str]) -> Result:
    env = {"SATDESCARGA_PASSWORD": None, "SATDESCARGA_DB": None, "SATDESCARGA_MASTER_KEY": None}
    return CliRunner().invoke(main, args, env=env)


def test_every_command_has_a_mistake_to_check() -> None:
    assert {name for name, _ in leaf_commands(main)} == set(BAD_INPUTS)


@pytest.mark.parametrize("command", sorted(BAD_INPUTS))
def test_a_mistake_under_json_is_one_error_event(command: str) -> None:
    """Usage errors (click's own and the commands'), under --json: JSON on standard output,
    the documented code and exit code, a Spanish sentence; nothing else on standard output."""
    for args in (BAD_INPUTS[command], ["--no-such-option"]):
        result = invoke([*command.split(), *args, "--json"])
        lines = events(result)
        assert lines, (command, result.output)
        error = lines[-1]
        assert error["event"] == "error", (command, lines)
        assert error["exit_code"] == result.exit_code == 2, (command, result.output)
        assert error["code"] == "usage" and jsonout.ERROR_CODES["usage"][0] == 2
        assert error["message"] and "Usage" not in error["message"], error
        assert not result.stdout.startswith("Uso:"), result.stdout


def test_without_json_click_errors_stay_text() -> None:
    result = invoke(["status", "--out", NOWHERE])
    assert result.exit_code == 2 and result.stdout == ""
    assert "Error: no hay ledger en" in result.stderr


def test_the_json_after_a_double_dash_is_an_argument() -> None:
    assert jsonout.wants_json(["status", "--json"])
    assert not jsonout.wants_json(["read", "--", "--json"])


def test_an_undeclared_event_or_key_is_refused() -> None:
    with pytest.raises(ValueError, match="no declarado"):
        jsonout.line("no-such-event")
    with pytest.raises(ValueError, match="ventanas"):
        jsonout.line("status", ventanas={})
    with pytest.raises(ValueError, match=r"run\.documentos"):
        jsonout.line("summary", run={"documentos": 1})


def test_every_key_is_english_snake_case() -> None:
    import re

    keys = [key for _, _, fields in jsonout.EVENTS.values() for key in fields]
    keys += [key for nested in jsonout.NESTED.values() for key in nested]
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", key) for key in keys), keys
    assert all(re.fullmatch(r"[a-z][a-z_]*", event) for event in jsonout.EVENTS)


def test_the_documentation_is_generated_from_the_declarations() -> None:
    """docs/json.md is `jsonout.markdown()`: regenerate it with
    `python -c "from satdescarga.cli.jsonout import markdown; print(markdown())" > docs/json.md`."""
    assert (ROOT / "docs" / "json.md").read_text(encoding="utf-8") == jsonout.markdown() + "\n"


def test_a_closed_standard_output_still_gets_the_error_said(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "from satdescarga.cli import main; main()"
    command = [sys.executable, "-c", code, "status", "--out", NOWHERE, "--json"]
    closed = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *command], capture_output=True, text=True, check=False
    )
    assert closed.returncode == 2
    assert json.loads(closed.stderr)["code"] == "usage"


def _emitted() -> Iterator[tuple[str, str, set[str]]]:
    """(where, event, keys) of every event the source writes by name: `emit("event", k=...)`
    (the engine's events and jsonout's) and `Output.result("event", {...}, ...)`."""
    import ast

    for path in sorted((ROOT / "src" / "satdescarga").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            first = node.args[0] if node.args else None
            if name not in ("emit", "result") or not isinstance(first, ast.Constant):
                continue
            if not isinstance(first.value, str):
                continue
            keys = {k.arg for k in node.keywords if k.arg is not None}
            if name == "result" and len(node.args) > 1 and isinstance(node.args[1], ast.Dict):
                keys |= {str(k.value) for k in node.args[1].keys if isinstance(k, ast.Constant)}
            yield f"{path.name}:{node.lineno}", first.value, keys


def test_every_event_the_source_writes_is_declared() -> None:
    found = list(_emitted())
    assert len(found) > 40
    for where, event, keys in found:
        assert event in jsonout.EVENTS, where
        assert keys <= set(jsonout.EVENTS[event][2]), (where, keys - set(jsonout.EVENTS[event][2]))


def test_computed_keys_are_declared() -> None:
    """Keys built from tables rather than written out: read issues, the summary's run and
    total counters."""
    from satdescarga.packages import IssueKind
    from satdescarga.sync.run import ISSUE_KEYS, RUN_COUNTERS, TOTAL_COUNTERS

    assert {kind.value for kind in IssueKind} <= set(ISSUE_KEYS)
    assert set(ISSUE_KEYS.values()) <= set(jsonout.EVENTS["read"][2])
    assert set(ISSUE_KEYS.values()) <= set(jsonout.EVENTS["read_summary"][2])
    assert set(RUN_COUNTERS.values()) == set(jsonout.NESTED["summary", "run"])
    total = {*TOTAL_COUNTERS.values(), "read_issues"}
    assert total == set(jsonout.NESTED["summary", "total"])


def test_a_refusal_of_sat_ends_with_an_error_event() -> None:
    """`verify` of a request SAT does not know: its answer, then the error that closes it."""
    from ..sync.conftest import emulator

    with emulator() as sat:
        args = ["verify", "--cer", CER, "--key", KEY, *PASSWORD, "--endpoint-base", sat.base_url]
        result = invoke([*args, "00000000-0000-0000-0000-000000000000", "--json"])
    answer, error = events(result)
    assert answer["event"] == "verify" and answer["sat_code"] == "5004"
    assert error["event"] == "error" and error["code"] == "refused"
    assert error["exit_code"] == result.exit_code == 1
