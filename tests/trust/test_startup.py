"""16. `--help` is fast: it loads none of zeep, xmlschema, requests or cryptography."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("zeep", "xmlschema", "requests", "cryptography")
COMMANDS = [
    [], ["sync"], ["query"], ["verify"], ["download"], ["auth"], ["status"], ["read"],
    ["demo"], ["emulator"], ["emulator", "serve"], ["selfcheck"],
]  # fmt: skip
PROBE = """
import sys
from satdescarga.cli import main
try:
    main({args!r})
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
print("loaded:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "satdescarga")
def test_help_loads_no_heavy_library(command: list[str]) -> None:
    code = PROBE.format(args=[*command, "--help"], heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Uso:" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "loaded:", done.stdout
