"""Command-line start-up: `satdescarga --help` and `satdescarga sync --help`, against a bare
Python start and an import of the whole client, with which heavy libraries each one loads.

Target (trust issue, item 16): `--help` loads none of zeep, xmlschema, requests, cryptography
(also asserted by tests/trust/test_startup.py); the time is reported here, never asserted.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from bench.measure import table

HEAVY = ("zeep", "xmlschema", "requests", "cryptography")
RUNS = 7
PROBE = (
    "import sys, time; t = time.perf_counter(); {code}; "
    "print(round(time.perf_counter() - t, 4), ','.join(m for m in {heavy} if m in sys.modules))"
)
HELP = "from satdescarga.cli import main\ntry: main({args})\nexcept SystemExit: pass"
CASES = {
    "python (nothing)": "pass",
    "import satdescarga.client.client": "import satdescarga.client.client",
    "satdescarga --help": HELP.format(args="['--help']"),
    "satdescarga sync --help": HELP.format(args="['sync', '--help']"),
}


def measure(code: str) -> tuple[float, float, str]:
    """Median wall time of the whole process, median in-process import time, modules loaded."""
    walls: list[float] = []
    inner: list[float] = []
    loaded = ""
    script = PROBE.format(code=f"exec({code!r})", heavy=HEAVY)
    for _ in range(RUNS):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        walls.append(time.perf_counter() - start)
        seconds, _, loaded = done.stdout.strip().splitlines()[-1].partition(" ")
        inner.append(float(seconds))
    return statistics.median(walls), statistics.median(inner), loaded


def main() -> None:
    rows = []
    for name, code in CASES.items():
        wall, inner, loaded = measure(code)
        rows.append((name, f"{wall:.3f} s", f"{inner:.3f} s", loaded or "-"))
    print(table(("start-up", "process", "imports + command", "heavy modules loaded"), rows))
    print("target: --help loads none of " + ", ".join(HEAVY) + " (was 0.95 s before)")


if __name__ == "__main__":
    main()
