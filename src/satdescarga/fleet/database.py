"""The fleet's PostgreSQL: one URL, its SQLAlchemy engine, and `init` (create or upgrade).

`init` brings three schemas to their latest version, each idempotent and safe to run while
workers are running: the ledger's (the same Alembic revisions as a single taxpayer's SQLite
ledger, `sync.migrate`), the fleet's own (`fleet/migrations`), and procrastinate's job queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from satdescarga.errors import ConfigurationError
from satdescarga.fleet import grants
from satdescarga.fleet.schema import VERSION_TABLE
from satdescarga.sync.ledger import migrate

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
ADVISORY_INIT = 7_311_001  # one `init` at a time (pg_advisory_xact_lock)


class FleetDatabaseError(ConfigurationError):
    """The fleet's database URL is not PostgreSQL, or the database cannot be reached."""


def sqlalchemy_url(url: str, application_name: str | None = None) -> str:
    """`postgresql://…` (what users and libpq write) as SQLAlchemy's psycopg 3 URL; with
    `application_name` (unless the URL names one), the name its connections show in
    `pg_stat_activity`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise FleetDatabaseError(
            "la base de datos debe ser una URL de PostgreSQL (postgresql://usuario@host/base)"
        ) from None
    if parsed.get_backend_name() != "postgresql":
        raise FleetDatabaseError(
            "la flota necesita PostgreSQL: la URL debe empezar con postgresql://"
        )
    if application_name and "application_name" not in parsed.query:
        parsed = parsed.update_query_dict({"application_name": application_name})
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str, application_name: str | None = None) -> str:
    """The same URL as libpq (psycopg, procrastinate) reads it."""
    return sqlalchemy_url(url, application_name).replace(
        "postgresql+psycopg://", "postgresql://", 1
    )


POOL_TIMEOUT = 300.0  # seconds a thread waits for a free pooled connection (never forever)


def engine_for(url: str, pool_size: int = 5, application_name: str | None = None) -> Engine:
    """An engine on the fleet's database (psycopg 3): at most `pool_size` connections, never
    more (no overflow: a worker's connections are counted, README "Conexiones"). A thread holds
    one pooled connection at a time and waits its turn when all are busy."""
    return create_engine(
        sqlalchemy_url(url, application_name),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT,
        pool_recycle=600,
    )  # no pre-ping: it would double the round trips of a chatty ledger


def reader_of(engine: Engine) -> Engine:
    """`engine` with connections in autocommit: single SELECTs in one round trip each (no
    BEGIN, no ROLLBACK), on the same pool."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def reader_for(url: str, pool_size: int = 5) -> Engine:
    """An engine of its own whose connections autocommit (tools and tests; a worker uses
    `reader_of` its engine, so its reads share the one pool)."""
    return reader_of(engine_for(url, pool_size))


def init(url: str, xml_dir: Path | None = None, grant: Sequence[str] = ()) -> None:
    """Create or upgrade the ledger's, the fleet's and procrastinate's tables; with `xml_dir`,
    the fleet keeps XML in that directory (shared by every worker) from now on; with `grant`,
    those roles may then do all a worker does (grants.py), on every table, old or new."""
    from alembic import command

    engine = engine_for(url)
    try:
        with _connect(engine) as connection, connection.begin():
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_INIT})
            grants.check_owner(connection)
            migrate.upgrade_connection(connection)
            command.upgrade(_alembic_config(connection), "head")
            if not inspect(connection).has_table("procrastinate_jobs"):
                from satdescarga.fleet.queue import procrastinate_schema

                driver: Any = connection.connection.driver_connection
                driver.execute(procrastinate_schema())  # no parameters: sent as written
            if grant:
                grants.grant(connection, grant)
        if xml_dir is not None:  # once the fleet's id is committed: the folder's marker names it
            from satdescarga.fleet.xmldir import configure

            with _connect(engine) as connection, connection.begin():
                configure(connection, xml_dir)
    finally:
        engine.dispose()


def check_current(engine: Engine) -> None:
    """Refuse a database that `fleet init` has not brought to this release, or a role that
    lacks a privilege a step needs (workers check once at start; their steps never migrate)."""
    from alembic.script import ScriptDirectory

    fleet_head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with _connect(engine) as db:
        grants.check_role(db)  # before reading a table the role might not be allowed to
        ledger = migrate.current_revision(db)
        fleet = None
        if inspect(db).has_table(VERSION_TABLE):
            fleet = db.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        queue = inspect(db).has_table("procrastinate_jobs")
    if (ledger, fleet, queue) != (migrate.HEAD, fleet_head, True):
        raise FleetDatabaseError(
            "la base de datos de la flota no está al día con esta versión: "
            "ejecute 'satdescarga fleet init --db URL'"
        )


def _connect(engine: Engine) -> Connection:
    try:
        return engine.connect()
    except Exception as exc:  # psycopg's OperationalError: unreachable, refused, no such db
        raise FleetDatabaseError(
            f"no se pudo conectar a la base de datos de la flota ({first_line(exc)}): revise "
            "que PostgreSQL esté en marcha y la URL de --db (o $SATDESCARGA_DB)"
        ) from exc  # (the cause: shown with --debug; tells reconnect.py it was a connection)


def _alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the fleet's revisions (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def first_line(exc: BaseException) -> str:
    """The first line of what went wrong, from the error that started it (procrastinate's
    ConnectorException only says "Database error."; SQLAlchemy's adds its own prefix)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
