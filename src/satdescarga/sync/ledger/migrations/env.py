"""Alembic environment of the ledger.

`satdescarga.sync.ledger.migrate.upgrade` runs it with the ledger's connection, inside
the transaction it opened (config.attributes["connection"]): nothing to configure on the
user's side. Developers may also point it at a file (`sqlalchemy.url`), see README.md.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from satdescarga.sync.ledger.schema import metadata


def run(connection: Connection) -> None:
    # SQLite runs DDL in transactions when BEGIN is ours (sync.migrate): a revision applies
    # whole or not at all.
    context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    from satdescarga.sync.ledger.migrate import sqlite_engine

    url = context.config.get_main_option("sqlalchemy.url") or ""
    if not url.startswith("sqlite:///"):
        raise SystemExit("sqlalchemy.url: sqlite:///<ledger path>")
    from pathlib import Path

    engine = sqlite_engine(Path(url.removeprefix("sqlite:///")))
    try:
        with engine.connect().execution_options(ledger_write=True) as opened, opened.begin():
            run(opened)
    finally:
        engine.dispose()
