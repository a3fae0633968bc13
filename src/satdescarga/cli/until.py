"""What `sync` says about its `--until` when it does not do what it literally asks.

A future `--until` is taken as now (SAT has nothing later): said once, before anything runs.
An `--until` the ledger already covers asks SAT for nothing: said after the run, with how far
the ledger goes, before the run (which still finishes what is pending), instead of a silent
`complete: true`. Both are notices (standard error, or a
`{"event": "notice", "message": ...}` line with --json), never errors: the run is still right.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from satdescarga.cli.common import Output

if TYPE_CHECKING:
    from satdescarga.sync.calendar import Calendar
    from satdescarga.sync.plan import Job

MOMENT = "%Y-%m-%d %H:%M:%S"


def notice(output: Output, message: str) -> None:
    """One notice: `Aviso: ...` on standard error, or a JSON event line with --json."""
    if output.json:
        output.result("notice", {"message": message}, "")
    else:
        output.note(message)


def future_until(until: datetime | None, now: datetime) -> str | None:
    """The notice for an `--until` later than now (Mexico City time, as both are given)."""
    if until is None or until <= now:
        return None
    return (
        f"--until {until:{MOMENT}} es futuro: se sincroniza hasta ahora ({now:{MOMENT}}); "
        "lo que falte se pide en la siguiente ejecución"
    )


def already_covered(
    ledger_file: Path, plan: Calendar, jobs: list[Job], now: datetime
) -> str | None:
    """The notice for an `--until` that asks nothing new: the ledger's periods already cover
    it for every job (the plan, as the run will compute it, adds no window). None when there
    is something to ask for, or no `--until`."""
    until = plan.until
    if until is None or not ledger_file.exists():
        return None
    from satdescarga.sync.ledger.sql import SqliteLedger
    from satdescarga.sync.states import WindowPurpose

    ledger = SqliteLedger(ledger_file)
    try:
        reach: list[datetime] = []
        for job in jobs:
            known = ledger.windows([job.key])
            if plan.windows(job, known, now, ledger.start_of(job.key)):
                return None
            ends = [w.end for w in known if w.purpose is WindowPurpose.PERIOD]
            if not ends:
                return None
            reach.append(max(ends))
    finally:
        ledger.close()
    covered = min(reach)
    if until > covered:
        return None
    return (
        f"nada que pedir hasta --until {until:{MOMENT}}: el ledger ya tiene el periodo hasta "
        f"{covered:{MOMENT}} (solo se revisa lo pendiente); sin --until sigue hasta ahora"
    )
