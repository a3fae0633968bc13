"""python -m bench [NAME...]: run every bench/bench_*.py module (or the named ones).

Each module defines `main() -> None` and prints its own table. Every module runs in its own
process, so the peak RSS it reports is its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    wanted = [a if a.startswith("bench_") else f"bench_{a}" for a in sys.argv[1:]] or names
    if not names:
        print("no benchmarks yet")
        return 0
    failed = 0
    for name in wanted:
        print(f"\n== {name} ==", flush=True)
        code = f"import bench.{name} as m; m.main()"
        failed += subprocess.run([sys.executable, "-c", code], cwd=here.parent).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
