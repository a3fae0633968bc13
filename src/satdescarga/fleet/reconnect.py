"""A worker outlives its database: which errors mean "the database is away", and the wait
(with backoff) until it is back, said once when it goes and once when it returns.

The database is "away" when a connection cannot be made or breaks: the server is down,
restarting, starting up or shutting down, refuses more clients, or ended the session
(`pg_terminate_backend`). Anything else a connection attempt reports (an unknown database or
role, a rejected password) is for a person to fix: at start the worker stops with one sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import psycopg
import sqlalchemy.exc

from satdescarga.fleet.database import FleetDatabaseError, first_line

log = logging.getLogger("satdescarga.fleet")

FIRST_WAIT, LONGEST_WAIT = 1.0, 30.0  # seconds between tries to reach the database (doubling)
PROBE_TIMEOUT = 5  # seconds a connection attempt may take
# Connection failures that end by themselves (libpq's English texts; a server whose messages
# are in another language reports these as FATAL too, and the worker then waits as well).
_PASSING = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "too many clients",
    "remaining connection slots are reserved",
)
_FOR_A_PERSON = ("does not exist", "authentication failed", "no pg_hba.conf entry", "password")


def connection_lost(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) is a broken or impossible connection to the
    database, whichever layer reported it (psycopg, SQLAlchemy, procrastinate's
    ConnectorException and the pool's PoolTimeout, both caused by psycopg's errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, psycopg.OperationalError | psycopg.InterfaceError):
            return True  # includes AdminShutdown (terminated) and psycopg_pool.PoolTimeout
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
            return True
        current = current.__cause__ or current.__context__
    return False


def for_a_person(exc: BaseException) -> bool:
    """A connection refused for a reason that does not pass by itself (unknown database or
    role, rejected password): waiting would never end."""
    text = str(exc)
    if any(passing in text for passing in _PASSING):
        return False
    return any(reason in text for reason in _FOR_A_PERSON)


def refused(exc: BaseException) -> FleetDatabaseError:
    """The sentence for a connection a person must fix (exit 2)."""
    return FleetDatabaseError(
        f"no se pudo conectar a la base de datos de la flota ({first_line(exc)}): revise la "
        "URL de --db (o $SATDESCARGA_DB): base, rol y contraseña"
    )


def reachable(url: str) -> BaseException | None:
    """None when a connection to `url` (libpq) opens and answers; otherwise the error."""
    try:
        with psycopg.connect(url, connect_timeout=PROBE_TIMEOUT, autocommit=True) as db:
            db.execute("SELECT 1")
    except psycopg.Error as exc:
        return exc
    return None


class Outage:
    """Says once that the fleet's database is away and once that it is back; waits between
    tries with a doubling pause (FIRST_WAIT up to LONGEST_WAIT)."""

    def __init__(self, url: str, say: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.say = say or log.warning
        self.away = False
        self.outages = 0

    def lost(self, exc: BaseException | None) -> None:
        if self.away:
            return
        self.away = True
        self.outages += 1
        why = f" ({first_line(exc)})" if exc is not None else ""
        self.say(
            f"la base de datos de la flota no responde{why}; el trabajador reintenta cada "
            f"{FIRST_WAIT:.0f} a {LONGEST_WAIT:.0f} s y sigue en cuanto vuelva"
        )

    def back(self) -> None:
        if self.away:
            self.away = False
            self.say("la base de datos de la flota volvió; el trabajador sigue")

    def wait_sync(self, exc: BaseException | None = None) -> None:
        """Block until the database answers (at start, before anything runs). An error a
        person must fix is raised at once."""
        pause = FIRST_WAIT
        problem = exc if exc is not None else reachable(self.url)
        while problem is not None:
            if for_a_person(problem):
                raise refused(problem)
            self.lost(problem)
            time.sleep(pause)
            pause = min(LONGEST_WAIT, pause * 2)
            problem = reachable(self.url)
        self.back()

    async def wait(self, stop: asyncio.Event, exc: BaseException | None = None) -> bool:
        """Wait until the database answers (True) or `stop` is set (False)."""
        self.lost(exc)
        pause = FIRST_WAIT
        while not stop.is_set():
            if await asyncio.to_thread(reachable, self.url) is None:
                self.back()
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            pause = min(LONGEST_WAIT, pause * 2)
        return False
