"""What `satdescarga sync` asks for, decided before anything is created or sent: the windows
(`--window`), the direction x kind pairs, the jobs, and every problem with the period and the
filters, said once."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from satdescarga.cli.options import received_xml_status_problem
from satdescarga.client.query import MEXICO, Query, RequestType
from satdescarga.errors import InvalidQuery
from satdescarga.sync.plan import day_windows, month_windows
from satdescarga.vocabulary import DownloadType, ServiceFamily

if TYPE_CHECKING:
    from satdescarga.sync.plan import Job


def window_days(window: str) -> int | None:
    """`--window`: None for calendar months, else the number of days."""
    if window == "month":
        return None
    match = re.fullmatch(r"(\d+)d", window)
    if not match or int(match.group(1)) < 1:
        raise click.BadParameter("use 'month' o un número de días como '7d'", param_hint="--window")
    return int(match.group(1))


def plan_windows(since: datetime, until: datetime, window: str) -> list[tuple[datetime, datetime]]:
    days = window_days(window)
    return month_windows(since, until) if days is None else day_windows(since, until, days)


def without_history(ledger_file: Path, jobs: list[Job]) -> list[Job]:
    """The jobs the ledger has no period for (they need --since)."""
    if not ledger_file.exists():
        return jobs
    from satdescarga.sync.ledger.sql import SqliteLedger

    ledger = SqliteLedger(ledger_file)
    try:
        return [job for job in jobs if ledger.start_of(job.key) is None]
    finally:
        ledger.close()


def chosen(
    issued: bool, received: bool, metadata: bool, xml: bool
) -> list[tuple[DownloadType, RequestType]]:
    """Direction × kind pairs asked for (neither flag of a pair means both)."""
    directions = [
        d for d, on in ((DownloadType.ISSUED, issued), (DownloadType.RECEIVED, received)) if on
    ]
    kinds = [k for k, on in ((RequestType.METADATA, metadata), (RequestType.XML, xml)) if on]
    return [(d, k) for d in directions or list(DownloadType) for k in kinds or list(RequestType)]


def check_period(
    pairs: list[tuple[DownloadType, RequestType]],
    since: datetime,
    until: datetime,
    service: ServiceFamily,
    filters: dict[str, Any],
    now: datetime | None = None,
) -> None:
    """Every problem with what was asked, once, before anything is created or sent (`now`:
    Mexico City time, by the business clock)."""
    problems: list[str] = []
    now = now or datetime.now(MEXICO).replace(tzinfo=None, microsecond=0)
    if since > now:
        problems.append(f"el periodo empieza en el futuro ({since:%Y-%m-%d %H:%M:%S})")
    for direction, kind in pairs:
        status = filters["document_status"]
        if direction is DownloadType.RECEIVED and kind is RequestType.XML:
            if problem := received_xml_status_problem(status):
                problems.append(problem)
                continue
            status = status or "vigente"
        query = Query(
            start=since,
            end=min(until, now) if since <= now else until,
            download_type=direction,
            request_type=kind,
            **{**filters, "document_status": status},
        )
        problems += query.validate(service)
    if problems:
        raise InvalidQuery(list(dict.fromkeys(problems)))


def build_jobs(
    rfc: str, service: str, pairs: list[tuple[DownloadType, RequestType]], filters: dict[str, Any]
) -> list[Job]:
    from satdescarga.sync.plan import Job

    base = Query(**filters)  # SAT's spellings → the enums Job holds
    return [
        Job(
            rfc,
            service,
            direction,
            kind,
            document_type=base.document_type,
            complement=base.complement,
            document_status=base.document_status,
            rfc_on_behalf=base.rfc_on_behalf,
            counterparts=base.counterparts,
        )
        for direction, kind in pairs
    ]
