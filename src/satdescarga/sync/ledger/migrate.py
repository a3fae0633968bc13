"""Opening a ledger's database: SQLite settings on every connection, and the schema brought to the
latest Alembic revision (`migrations/`) before anything else reads it.

A ledger already at `HEAD` costs one SELECT (Alembic is not even imported). A ledger from before
Alembic (`meta.schema_version`, no `alembic_version`) is stamped with its revision, then
upgraded; the whole upgrade is one transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    URL,
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    inspect,
    select,
)

from satdescarga.sync.ledger import schema
from satdescarga.sync.readonly import connect_read_only
from satdescarga.sync.states import LedgerError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
HEAD = "0004"
"""The newest revision in `migrations/versions` (a test keeps the two in step)."""
PRE_ALEMBIC = {"1": "0001", "2": "0002"}
"""`meta.schema_version` written by releases before Alembic -> the revision it matches."""
VERSION = Table("alembic_version", MetaData(), Column("version_num", String(32)))
"""Alembic's own table, read without importing Alembic."""
WRITE = "ledger_write"
"""Execution option: the connection's transactions begin with BEGIN IMMEDIATE (they write)."""
READ = "ledger_read"
"""Execution option: the connection runs single SELECTs, each its own implicit transaction."""


class LedgerVersionError(LedgerError):
    """The ledger was written by a newer satdescarga (or is not a ledger at all)."""


def sqlite_engine(path: Path, read_only: bool = False) -> Engine:
    """An engine on the SQLite file `path`: WAL, synchronous=FULL (a commit survives power loss)
    and foreign keys on every connection; transactions are begun by us (BEGIN, or BEGIN
    IMMEDIATE with the `WRITE` option; none with `READ`), so DDL is transactional too.
    `read_only`: connections that never write (`readonly.connect_read_only`), for commands
    that only read, even in a folder this user cannot write."""
    url = URL.create("sqlite+pysqlite", database=str(path))
    if read_only:
        engine = create_engine(url, creator=lambda: connect_read_only(path))
    else:
        engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own
        if read_only:
            return  # nothing to set: the journal mode is the file's, and nothing is written
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get(READ):
            return  # a single SELECT: SQLite's implicit transaction is the snapshot
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE) else "BEGIN")

    return engine


def upgrade(engine: Engine) -> None:
    """Bring the ledger to `HEAD` in one transaction (a no-op when it is there already: then
    nothing is locked, so `status` may open a ledger a sync is writing)."""
    with engine.connect() as connection:
        if current_revision(connection) == HEAD:
            return
    with engine.connect().execution_options(**{WRITE: True}) as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # a revision may rebuild a table: keys are checked once, before the commit
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                if current_revision(connection) != HEAD:  # asked again under the write lock
                    _upgrade(connection)
                    if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                        raise LedgerError("la migración del ledger dejó referencias rotas")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def upgrade_connection(connection: Connection) -> None:
    """Bring the ledger's tables to `HEAD` inside the caller's transaction (the fleet's
    `init`, which holds its own lock on PostgreSQL)."""
    if current_revision(connection) != HEAD:
        _upgrade(connection)


def current_revision(connection: Connection) -> str | None:
    """The Alembic revision of the ledger (None: new, or from before Alembic)."""
    if not inspect(connection).has_table(VERSION.name):
        return None
    return connection.execute(select(VERSION.c.version_num)).scalar()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the shipped migrations (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")  # a module name, for mypy
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config(connection)
    script = ScriptDirectory.from_config(config)
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        legacy = _pre_alembic(connection)
        if legacy is not None:
            command.stamp(config, legacy)
    elif current not in {revision.revision for revision in script.walk_revisions()}:
        raise LedgerVersionError(
            f"el ledger es de una versión más nueva de satdescarga (revisión {current}); "
            "actualice satdescarga para usarlo"
        )
    command.upgrade(config, "head")


def _pre_alembic(connection: Connection) -> str | None:
    """The revision a ledger written before Alembic is at (None for an empty database)."""
    inspector = inspect(connection)
    if not inspector.has_table("meta"):
        if any(inspector.has_table(table) for table in schema.metadata.tables):
            raise LedgerVersionError("el archivo no es un ledger de satdescarga")
        return None
    version = connection.execute(
        select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
    ).scalar()
    if version not in PRE_ALEMBIC:
        raise LedgerVersionError(
            f"el ledger tiene una versión de esquema desconocida ({version}); "
            "¿lo escribió otra versión de satdescarga?"
        )
    return PRE_ALEMBIC[version]
