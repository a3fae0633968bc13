"""The per-taxpayer step lock: a PostgreSQL session advisory lock on
`hashtext('satdescarga:' || rfc)`, held for the whole step, with no transaction open.

Why this lock, and held this way:

- procrastinate's job lock (the job's `lock` is the RFC) is the first guard: two steps of one
  taxpayer are never *fetched* at once. It is lost when `recover` puts back the job of a worker
  taken for dead that is in fact alive (a long pause, a network split); the advisory lock is the
  second guard, and the key `fleet remove` waits on (`pg_advisory_lock` with a `lock_timeout`).
- A lease (a row with an expiry renewed by the step) would need a table and renewals from the
  middle of a step; an advisory lock costs two statements per step and goes with the
  connection when a worker dies.
- Session-level, taken in **autocommit**: the lock needs no transaction, so the connection shows
  `idle` (never `idle in transaction`) in `pg_stat_activity` for the whole step: vacuum is not
  held back and `idle_in_transaction_session_timeout` never cuts it.
- **One connection per worker** holds the locks of all its running steps (advisory locks
  stack in a session; a set in memory keeps one step per RFC within the worker, as the session
  would let it take a lock it already holds). A step's own statements use the worker's pool,
  one connection at a time, so a worker needs `concurrency` pooled connections plus this one
  plus procrastinate's (README "Conexiones").
- `idle_session_timeout` is set to 0 for this connection (idle between steps by design).
- If this connection is cut (a backend killed, a database restart), the next lock or unlock
  reconnects and takes again the locks of the steps still running; a lock found taken by
  someone else meanwhile is said in the log (the step goes on: the job lock still guards it).
"""

from __future__ import annotations

import contextlib
import logging
import threading

from sqlalchemy import Connection, Engine, TextClause, create_engine, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("satdescarga.fleet")

_TRY = text("SELECT pg_try_advisory_lock(hashtext('satdescarga:' || :rfc))")
_UNLOCK = text("SELECT pg_advisory_unlock(hashtext('satdescarga:' || :rfc))")
LEADER_LOCK = (7_311_002, 1)
"""The "metrics leader" advisory lock (two int4 keys: a keyspace apart from the RFC locks)."""
_LEAD = text(f"SELECT pg_try_advisory_lock({LEADER_LOCK[0]}, {LEADER_LOCK[1]})")
_UNLEAD = text(f"SELECT pg_advisory_unlock({LEADER_LOCK[0]}, {LEADER_LOCK[1]})")


class StepLocks:
    """The step locks of one worker process, on one autocommit connection of their own."""

    def __init__(self, engine: Engine) -> None:
        """`engine`: the worker's; its URL (and `application_name`) is reused, not its pool."""
        self._engine = create_engine(
            engine.url,
            pool_size=1,
            max_overflow=0,
            isolation_level="AUTOCOMMIT",
            pool_reset_on_return=None,
        )
        self._mutex = threading.Lock()
        self._connection: Connection | None = None
        self._held: set[str] = set()
        self._leading = False  # holds the "metrics leader" lock (metrics.py)

    def acquire(self, rfc: str) -> bool:
        """Take `rfc`'s lock (False: a step of `rfc` runs here or elsewhere)."""
        with self._mutex:
            if rfc in self._held:
                return False
            taken = bool(self._execute(_TRY, rfc))
            if taken:
                self._held.add(rfc)
            return taken

    def release(self, rfc: str) -> None:
        with self._mutex:
            if rfc not in self._held:
                return
            self._held.discard(rfc)
            try:
                held = bool(self._execute(_UNLOCK, rfc))
            except DBAPIError:  # the connection is gone, and the lock with it
                self._drop()
                return
            if not held:
                log.warning("el candado del paso de %s se había perdido (conexión cortada)", rfc)

    def lead(self) -> bool:
        """Take (or keep) the fleet's "metrics leader" lock on this same connection: the
        worker exporting the fleet-wide figures needs no connection of its own."""
        with self._mutex:
            if not self._leading:
                self._leading = bool(self._execute(_LEAD, ""))
            return self._leading

    def step_down(self) -> None:
        """Let another worker lead the metrics."""
        with self._mutex:
            if self._leading:
                self._leading = False
                with contextlib.suppress(DBAPIError):
                    self._execute(_UNLEAD, "")

    def held(self) -> set[str]:
        with self._mutex:
            return set(self._held)

    def close(self) -> None:
        with self._mutex:
            self._drop()
            self._held.clear()
            self._engine.dispose()

    def _execute(self, statement: TextClause, rfc: str) -> object:
        """One statement on the locks' connection; a cut connection is opened again once, and
        the locks of the steps still running are taken again on it first."""
        for attempt in (1, 2):
            try:
                fresh = self._connection is None
                connection = self._connect()
                if fresh:
                    self._retake(connection)
                return connection.execute(statement, {"rfc": rfc}).scalar()
            except DBAPIError as exc:
                self._drop()
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def _connect(self) -> Connection:
        if self._connection is None:
            connection = self._engine.connect()
            if (connection.dialect.server_version_info or (0,)) >= (14,):
                # Idle between steps by design: a server-wide idle_session_timeout must not
                # cut it (the pool's connections are recycled after 10 minutes anyway).
                connection.execute(text("SET idle_session_timeout = 0"))
            self._connection = connection
        return self._connection

    def _retake(self, connection: Connection) -> None:
        for rfc in sorted(self._held):
            if not connection.execute(_TRY, {"rfc": rfc}).scalar():
                log.warning("el candado del paso de %s lo tomó otro al reconectar", rfc)

    def _drop(self) -> None:
        self._leading = False  # the lock goes with the connection
        if self._connection is not None:
            with contextlib.suppress(DBAPIError):
                self._connection.close()
            self._connection = None
