"""`sync --until` that does not do what it literally says is told so: a future `--until` is
capped at now, and an `--until` the ledger already covers asks nothing (a notice, not a silent
`complete: true`), as a line for people and a JSON event with --json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from satdescarga.cli import main
from satdescarga.emulator import Emulator

from ..sync.conftest import SINCE, credentials, emulator

MONTH = (f"{SINCE:%Y}-03-01", f"{SINCE:%Y}-03-31")


@pytest.fixture(scope="module")
def sat() -> Iterator[Emulator]:
    with emulator() as running:
        yield running


def sync(sat: Emulator, out: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main,
        [
            "sync",
            *credentials(sat),
            "--issued",
            "--metadata",
            "--out",
            str(out),
            "--poll",
            "0.01",
            *args,
        ],
    )


def notices(result: Result) -> list[str]:
    events = [json.loads(line) for line in result.stdout.splitlines()]
    return [e["message"] for e in events if e["event"] == "notice"]


def test_an_until_the_ledger_already_covers_says_there_was_nothing_to_ask(
    sat: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = sync(sat, out, "--since", MONTH[0], "--until", MONTH[1])
    assert first.exit_code == 0, first.output
    earlier = f"{SINCE:%Y}-03-10"
    again = sync(sat, out, "--until", earlier, "--json")
    assert again.exit_code == 0, again.output
    [said] = notices(again)
    assert f"nada que pedir hasta --until {earlier} 23:59:59: el ledger" in said
    assert f"hasta {MONTH[1]} 23:59:59" in said
    human = sync(sat, out, "--until", earlier)
    assert human.exit_code == 0 and "Aviso: nada que pedir" in human.stderr
    more = sync(sat, out, "--since", MONTH[0], "--until", f"{SINCE:%Y}-04-05", "--json")
    assert more.exit_code == 0 and notices(more) == []  # asked for new days: nothing to say


def test_a_future_until_is_capped_at_now_and_says_so(sat: Emulator, tmp_path: Path) -> None:
    today = date.today()
    later = today + timedelta(days=40)
    args = ("--since", f"{today - timedelta(days=1)}", "--until", f"{later}")
    result = sync(sat, tmp_path / "out", *args, "--json")
    assert result.exit_code in (0, 5), result.output
    [said] = notices(result)
    assert f"--until {later} 23:59:59 es futuro: se sincroniza hasta ahora" in said
    human = sync(sat, tmp_path / "otra", *args)
    assert "Aviso: --until" in human.stderr and "es futuro" in human.stderr
