"""Login throttling in PostgreSQL: after `settings.login_failures` failed logins within
`settings.login_window` for one user name (known or not) or from one address, every login for
it answers "wait" (HTTP 429, Retry-After) until the oldest of those failures leaves the
window. A successful login clears its user name's failures (not its address's)."""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select

from satdescarga.fleet.schema import web_login_failures as failures
from satdescarga.web.accounts import LoginThrottled
from satdescarga.web.context import Settings


def check(db: Connection, settings: Settings, now: datetime, username: str, address: str) -> None:
    """`LoginThrottled` when the user name or the address has too many recent failures."""
    since = now - settings.login_window
    for column, value in ((failures.c.username, username), (failures.c.address, address)):
        recent = (
            select(failures.c.at)
            .where(column == value, failures.c.at > since)
            .order_by(failures.c.at.desc())
            .limit(settings.login_failures)
            .subquery()
        )
        count, oldest = db.execute(select(func.count(), func.min(recent.c.at))).one()
        if count >= settings.login_failures:
            wait = (oldest + settings.login_window - now).total_seconds()
            raise LoginThrottled(max(1, math.ceil(wait)))


def prune(db: Connection, settings: Settings, now: datetime) -> None:
    """Forget failures older than the window: they count no more."""
    db.execute(delete(failures).where(failures.c.at <= now - settings.login_window))


def record(db: Connection, now: datetime, username: str, address: str) -> None:
    db.execute(insert(failures).values(at=now, username=username, address=address))


def clear(db: Connection, username: str) -> None:
    db.execute(delete(failures).where(failures.c.username == username))
