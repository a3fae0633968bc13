"""What `fleet status` shows: per taxpayer and for the whole fleet, read in a few queries
(the ledger's tables hold every taxpayer's windows; a window's job names its RFC)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from satdescarga.clock import from_local
from satdescarga.fleet import states, taxpayers
from satdescarga.fleet.states import TaxpayerState

_WINDOWS = text(
    """
    SELECT rfc,
           min(start) FILTER (WHERE state IN ('planned', 'requested', 'failed')) AS first_open,
           max("end") AS last_end,
           count(*) FILTER (WHERE state = 'failed') AS failed
    FROM (SELECT CAST(job AS json)->>'rfc' AS rfc, start, "end", state, purpose FROM windows
          WHERE purpose = 'period' OR purpose = 'folio') w
    GROUP BY rfc
    """
)
_REQUESTS = text(
    """
    SELECT CAST(w.job AS json)->>'rfc' AS rfc,
           count(*) FILTER (WHERE r.outcome = 'pending') AS pending,
           count(*) FILTER (WHERE r.outcome = 'stuck') AS stuck
    FROM requests r JOIN windows w ON w.id = r.window_id GROUP BY 1
    """
)
_LOST = text(
    """
    SELECT CAST(w.job AS json)->>'rfc' AS rfc, count(*) AS lost
    FROM packages p JOIN requests r ON r.id = p.request_row JOIN windows w ON w.id = r.window_id
    WHERE p.state = 'lost' AND w.state <> 'recovered' GROUP BY 1
    """
)
"""Lost packages whose documents were not recovered (a package lost in a window asked for
again is not lost: as the sync's summary counts them)."""
_COUNTS = text(  # counts.py: a self-invoice has a row in each direction, one document
    "SELECT taxpayer, documents, xml FROM fleet_document_counts"
)
_QUEUE = text("SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")


@dataclass(frozen=True)
class TaxpayerStatus:
    rfc: str
    name: str
    state: str  # states.TaxpayerState
    reason: str | None  # why, in one sentence
    result: str | None  # StepResult of the last step
    complete_until: str | None  # everything asked for is in up to here (business time)
    pending: int  # requests SAT is still preparing
    stuck: int
    lost: int
    failed_windows: int
    documents: int  # metadata rows
    xml: int
    last_run_at: str | None
    next_run_at: str | None
    last_error: str | None
    failures: int  # failed steps in a row
    failing_since: str | None
    fiel_valid_until: str
    fiel_expires_soon: bool
    fiel_expired: bool


def _text(value: datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Standing:
    """Where one taxpayer stands, with its facts (what `fleet status` and the read model show)."""

    person: taxpayers.Taxpayer
    state: str  # the stored state, or efirma_vencida once its e.firma expired
    reason: str | None
    complete_until: str | None  # business time, ISO 8601 (as the ledger writes it)
    pending: int
    stuck: int
    lost: int
    failed_windows: int
    documents: int
    xml: int
    fiel_expired: bool
    fiel_expires_soon: bool


@dataclass(frozen=True)
class Progress:
    """The ledger's aggregates per taxpayer (by RFC): the costly part of a look at the fleet
    (every window's job is read), which a reader may keep for a few seconds."""

    windows: dict[str, Any]
    requests: dict[str, Any]
    lost: dict[str, int]

    def complete_until(self, rfc: str) -> str | None:
        """Everything asked for is in up to here (business time, ISO 8601): the second
        before the first window still open, else the end of the last."""
        w = self.windows.get(rfc)
        if w is None:
            return None
        if w.first_open:
            return (datetime.fromisoformat(w.first_open) - timedelta(seconds=1)).isoformat()
        return w.last_end  # type: ignore[no-any-return]


def progress(engine: Engine) -> Progress:
    with engine.connect() as db:
        windows = {r.rfc: r for r in db.execute(_WINDOWS)}
        requests = {r.rfc: r for r in db.execute(_REQUESTS)}
        lost = {r.rfc: r.lost for r in db.execute(_LOST)}
    return Progress(windows, requests, lost)


def standings(
    engine: Engine,
    now: datetime,
    known: Progress | None = None,
    rfcs: Collection[str] | None = None,
) -> tuple[list[Standing], dict[str, Any]]:
    """Every taxpayer's standing (by RFC) and the fleet's queue and SAT health, in a few
    queries: the one reading behind `fleet status` and the read model's overview (which may
    give the ledger's `progress` it read a moment ago, and only the `rfcs` of one page)."""
    people = taxpayers.listed(engine, rfcs)
    facts = known or progress(engine)
    windows, requests, lost = facts.windows, facts.requests, facts.lost
    with engine.connect() as db:
        counted = {r.taxpayer: r for r in db.execute(_COUNTS)}
        documents = {rfc: r.documents for rfc, r in counted.items()}
        xml = {rfc: r.xml for rfc, r in counted.items()}
        queue = {status: n for status, n in db.execute(_QUEUE)}
        health = db.execute(
            text(
                "SELECT failures, pauses, COALESCE(open_until > clock_timestamp(), false) "
                "AS paused, open_until FROM fleet_health WHERE name = 'sat'"
            )
        ).one()
    rows: list[Standing] = []
    instant = from_local(now)
    for person in people:
        expired = person.valid_until <= instant
        state, reason = person.state, person.reason
        if expired:  # no step runs for it any more: the row may still say what the last saw
            state, reason = (
                TaxpayerState.FIEL_EXPIRED.value,
                states.expired_reason(person.valid_until),
            )
        w, r = windows.get(person.rfc), requests.get(person.rfc)
        complete = facts.complete_until(person.rfc)
        rows.append(
            Standing(
                person=person,
                state=state,
                reason=reason,
                complete_until=complete,
                pending=r.pending if r else 0,
                stuck=r.stuck if r else 0,
                lost=lost.get(person.rfc, 0),
                failed_windows=w.failed if w else 0,
                documents=documents.get(person.rfc, 0),
                xml=xml.get(person.rfc, 0),
                fiel_expired=expired,
                fiel_expires_soon=not expired
                and person.valid_until <= instant + timedelta(days=30),
            )
        )
    fleet = {"queue": queue, "sat_paused": bool(health.paused), "pauses": health.pauses}
    return rows, fleet


def fleet_status(engine: Engine, now: datetime) -> dict[str, Any]:
    """Every taxpayer's status and the fleet's totals (JSON-ready)."""
    standing, fleet = standings(engine, now)
    rows = [
        TaxpayerStatus(
            rfc=s.person.rfc,
            name=s.person.name,
            state=s.state,
            reason=s.reason,
            result=s.person.last_result,
            complete_until=s.complete_until,
            pending=s.pending,
            stuck=s.stuck,
            lost=s.lost,
            failed_windows=s.failed_windows,
            documents=s.documents,
            xml=s.xml,
            last_run_at=_text(s.person.last_run_at),
            next_run_at=_text(s.person.next_run_at),
            last_error=s.person.last_error,
            failures=s.person.failures,
            failing_since=_text(s.person.failing_since),
            fiel_valid_until=s.person.valid_until.date().isoformat(),
            fiel_expires_soon=s.fiel_expires_soon,
            fiel_expired=s.fiel_expired,
        )
        for s in standing
    ]
    results: dict[str, int] = {}
    by_state: dict[str, int] = {}
    for row in rows:
        results[row.result or "sin_pasos"] = results.get(row.result or "sin_pasos", 0) + 1
        by_state[row.state] = by_state.get(row.state, 0) + 1
    return {
        "taxpayers": [asdict(row) for row in rows],
        "totals": {
            "taxpayers": len(rows),
            "by_result": results,
            "by_state": by_state,
            "pending_requests": sum(row.pending for row in rows),
            "stuck": sum(row.stuck for row in rows),
            "lost_packages": sum(row.lost for row in rows),
            "documents": sum(row.documents for row in rows),
            "xml": sum(row.xml for row in rows),
            **fleet,
        },
    }
