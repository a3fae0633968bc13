"""`satdescarga status --check [--repair]`: the full check of a sync folder's outputs against its
ledger (sync/integrity.py), and the repair that needs no SAT.

Exit codes: 0 everything agrees; 1 something is missing or damaged (listed); with `--repair`,
0 once everything was rebuilt from `paquetes/`, 5 when packages gone from `paquetes/` wait for
the next `sync` to download them again (or ask for their period again), 1 if something could not
be rebuilt.
"""

from __future__ import annotations

from pathlib import Path

import click

from satdescarga.cli.common import EXIT_OK, EXIT_PENDING, EXIT_REFUSED, Output


def check_outputs(out: Path, ledger_file: Path, repair: bool, output: Output) -> int:
    """Walk every package and XML file; with `repair`, rebuild what `paquetes/` allows."""
    from satdescarga.sync.integrity import check, restore
    from satdescarga.sync.ledger.sql import SqliteLedger
    from satdescarga.sync.lock import LedgerLock
    from satdescarga.sync.states import PackageState
    from satdescarga.sync.store import OutputStore

    store = OutputStore(out)
    if repair:
        with LedgerLock(ledger_file, "status --repair"):
            ledger = SqliteLedger(ledger_file)
            try:
                done = restore(ledger, store, out, store.database, full=True)
                waiting = len(ledger.packages(state=PackageState.TO_DOWNLOAD))
                read = ledger.packages(state=PackageState.READ)
            finally:
                ledger.close()
        for line in done:
            output.result("check_repaired", {"item": line}, f"reparado: {line}")
    else:
        ledger = SqliteLedger(ledger_file, read_only=True)
        try:
            read = ledger.packages(state=PackageState.READ)
        finally:
            ledger.close()
        waiting = 0
    damage = check(out, store.database, read, full=True)
    problems = [f"{p}: {why}" for p, why in damage.gone.items()]
    problems += [f"{p}: {why}" for p, why in damage.reread.items() if p not in damage.gone]
    for problem in problems:
        output.result("check_problem", {"problem": problem}, f"problema: {problem}")
    if problems:
        output.result(
            "check",
            {"complete": False, "problems": len(problems)},
            f"{len(problems)} problema(s) en {out}; `satdescarga status --out {out} --check "
            "--repair` reconstruye lo que está en paquetes/ (sin consultar al SAT)",
        )
        return EXIT_REFUSED
    checked = f"{len(read):,} paquetes y sus XML concuerdan con el ledger"
    if waiting:
        output.result(
            "check",
            {"complete": True, "to_download": waiting},
            f"{checked}; {waiting} paquete(s) por descargar de nuevo: ejecute `satdescarga sync`",
        )
        return EXIT_PENDING
    output.result("check", {"complete": True, "packages": len(read)}, checked)
    return EXIT_OK


def check_options(func: click.decorators.FC) -> click.decorators.FC:
    func = click.option(
        "--repair",
        is_flag=True,
        help="Con --check: reconstruye desde paquetes/ lo que falte (sin consultar al SAT).",
    )(func)
    return click.option(
        "--check",
        "full_check",
        is_flag=True,
        help="Revisa cada paquete y cada XML contra el ledger (código 1 si falta algo).",
    )(func)
