"""Alembic environment of the fleet's tables: run by `satdescarga.fleet.database.init` with its
connection (config.attributes["connection"]), inside the transaction it opened."""

from __future__ import annotations

from alembic import context

from satdescarga.fleet.schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
