"""A taxpayer's history in the ledger, reset on purpose (`fleet reset`), and how long the
fleet keeps what only explains the past (`retention`).

`reset` forgets the taxpayer's windows, requests (with their events), packages (with what
reading them reported), where its jobs' periods start and its tokens' validity, so its next
step plans its history again from its policy. Its outputs (`fleet_metadata`, `fleet_cfdi`,
`fleet_xml`, `fleet_changes`) stay: a document asked for again is upserted, not duplicated.
It waits for no step: with a step of that taxpayer running it refuses (the step's lock).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from procrastinate import App
from sqlalchemy import Connection, Engine, text

from satdescarga.errors import ConfigurationError
from satdescarga.sync.ledger.windows import VIEW_KEY

JOBS_KEPT = timedelta(days=7)  # failed, cancelled or aborted jobs of the queue
EVENTS_KEPT = timedelta(days=90)  # request_events: every send, query and verify of a request


class HistoryError(ConfigurationError):
    """A reset that cannot be done now (a step of the taxpayer is running) or of nobody."""


_WINDOWS = "SELECT id FROM windows WHERE CAST(job AS json)->>'rfc' = :rfc"
_REQUESTS = f"SELECT id FROM requests WHERE window_id IN ({_WINDOWS})"
_PACKAGES = f"SELECT package_id FROM packages WHERE request_row IN ({_REQUESTS})"
_FORGET = (
    f"DELETE FROM package_issues WHERE package_id IN ({_PACKAGES})",
    f"DELETE FROM packages WHERE request_row IN ({_REQUESTS})",
    f"DELETE FROM request_events WHERE request_row IN ({_REQUESTS})",
    f"DELETE FROM requests WHERE window_id IN ({_WINDOWS})",
    "DELETE FROM windows WHERE CAST(job AS json)->>'rfc' = :rfc",
)


@dataclass(frozen=True)
class Forgotten:
    windows: int
    requests: int
    packages: int


def reset(engine: Engine, rfc: str) -> Forgotten:
    """Forget `rfc`'s ledger (one transaction); its next step starts over from its policy."""
    rfc = rfc.upper()
    with engine.begin() as db:
        if not db.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"), {"k": f"satdescarga:{rfc}"}
        ).scalar():
            raise HistoryError(f"un paso de {rfc} está en curso: intente de nuevo cuando termine")
        known = db.execute(text("SELECT 1 FROM taxpayers WHERE rfc = :rfc"), {"rfc": rfc})
        counts = _counts(db, rfc)
        if known.first() is None and not counts.windows:
            raise HistoryError(f"{rfc} no está en la flota ni tiene historia en el ledger")
        for statement in _FORGET:
            db.execute(text(statement), {"rfc": rfc})
        db.execute(  # "start:<job>", "view:<job>": a job is JSON naming its RFC (Job.key)
            text("DELETE FROM meta WHERE (key LIKE 'start:%' OR key LIKE :view) AND key LIKE :m"),
            {"view": f"{VIEW_KEY}%", "m": f'%"rfc": "{rfc}"%'},
        )
        db.execute(text("DELETE FROM tokens WHERE service LIKE :p"), {"p": f"{rfc}:%"})
        db.execute(
            text(
                "UPDATE taxpayers SET next_run_at = NULL, state = 'nuevo', failures = 0, "
                "failing_since = NULL, last_error = NULL, summary = NULL, "
                "reason = 'historia reiniciada: el próximo paso la pide de nuevo' "
                "WHERE rfc = :rfc"
            ),
            {"rfc": rfc},
        )
    return counts


def _counts(db: Connection, rfc: str) -> Forgotten:
    row = db.execute(
        text(
            f"SELECT (SELECT count(*) FROM ({_WINDOWS}) w), "
            f"(SELECT count(*) FROM ({_REQUESTS}) r), (SELECT count(*) FROM ({_PACKAGES}) p)"
        ),
        {"rfc": rfc},
    ).one()
    return Forgotten(*row)


def clean_events(engine: Engine, now: datetime | None = None) -> int:
    """Delete `request_events` older than `EVENTS_KEPT` (their requests stay, with their
    last answer: only the play-by-play goes)."""
    cutoff = (now or datetime.now(UTC)) - EVENTS_KEPT
    with engine.begin() as db:
        deleted = db.execute(
            text("DELETE FROM request_events WHERE at < :cutoff"),
            {"cutoff": cutoff.astimezone(UTC).isoformat(timespec="milliseconds")},
        )
        return max(0, deleted.rowcount)


async def retention(app: App, engine: Engine, queue: str, now: datetime | None = None) -> int:
    """What `satdescarga.retention` (a periodic task, queue.py) does once a day: the queue's
    finished jobs (failed, cancelled and aborted ones too) that ended more than `JOBS_KEPT`
    ago go (procrastinate's own cleanup; a failed step is retried by the dispatch with its own
    backoff, and its failure is on the taxpayer's row), then old `request_events`. Returns the
    events deleted."""
    await app.job_manager.delete_old_jobs(
        nb_hours=int(JOBS_KEPT.total_seconds() // 3600),
        queue=queue,
        include_failed=True,
        include_cancelled=True,
        include_aborted=True,
    )
    return await asyncio.to_thread(clean_events, engine, now)
