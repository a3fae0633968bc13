"""`satdescarga query` shows SAT's refusal (now a QueryRefused from the library) as before: the
code and message, no IdSolicitud, exit 1."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from satdescarga.cli import main
from satdescarga.emulator import Emulator

from ..sync.conftest import SINCE, credentials, emulator


def query(sat: Emulator, *args: str) -> Result:
    return CliRunner().invoke(
        main,
        [
            "query",
            *credentials(sat),
            "--issued",
            "--since",
            f"{SINCE:%Y}-03-01",
            "--until",
            f"{SINCE:%Y}-03-31",
            *args,
        ],
    )


def test_a_refused_query_shows_sat_s_code_and_exits_1() -> None:
    with emulator(accept_delay=600) as sat:
        first = query(sat, "--json")
        assert first.exit_code == 0, first.output
        assert json.loads(first.stdout)["request_id"]
        again = query(sat, "--json")  # the first one is still active: 5005
        assert again.exit_code == 1, again.output
        data, error = (json.loads(line) for line in again.stdout.splitlines())
        assert data["request_id"] is None and data["sat_code"] == "5005"
        assert data["accepted"] is False and data["sat_message"]
        assert error["event"] == "error" and error["code"] == "refused" and error["exit_code"] == 1
        human = query(sat)
        assert human.exit_code == 1
        assert "IdSolicitud: -" in human.stdout and "5005" in human.stdout
