"""The fleet's revisions build exactly the tables `fleet/schema.py` declares, fresh or
upgraded from the previous release (revision 0003), keeping the rows already there."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from satdescarga.fleet.database import engine_for, init
from satdescarga.fleet.schema import metadata


def _differences(engine: Engine) -> list[Any]:
    def ours(name: str | None, kind: str, parent: Any) -> bool:
        return kind != "table" or name in metadata.tables

    with engine.connect() as connection:
        options = {"compare_type": True, "compare_server_default": True, "include_name": ours}
        context = MigrationContext.configure(connection, opts=options)
        found: list[Any] = list(compare_metadata(context, metadata))
        database = inspect(connection)
        for table in metadata.sorted_tables:  # autogenerate does not compare primary keys
            declared = [column.name for column in table.primary_key.columns]
            actual = database.get_pk_constraint(table.name)["constrained_columns"]
            if declared != actual:
                found.append(("primary key", table.name, actual, declared))
        return found


def test_the_revisions_build_the_declared_schema_fresh_and_upgraded(fleet_db: str) -> None:
    engine = engine_for(fleet_db)
    try:
        assert _differences(engine) == []
        with engine.begin() as db:  # the database as revision 0003 left it
            db.execute(
                text(
                    "ALTER TABLE taxpayers DROP COLUMN state, DROP COLUMN reason, "
                    "DROP COLUMN failures, DROP COLUMN failing_since"
                )
            )
            for table in ("fleet_metadata", "fleet_cfdi"):
                db.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey"))
                db.execute(text(f"ALTER TABLE {table} ADD PRIMARY KEY (taxpayer, uuid)"))
            db.execute(
                text(
                    "INSERT INTO fleet_metadata (taxpayer, direction, uuid) "
                    "VALUES ('AAA010101AAA', 'emitidos', 'U')"
                )
            )
            db.execute(text("UPDATE fleet_alembic_version SET version_num = '0003'"))
        found = _differences(engine)  # the comparison sees what 0003 lacks
        assert [d[0] for d in found if isinstance(d, tuple)].count("primary key") == 2
        assert len(found) > 2
        init(fleet_db)
        assert _differences(engine) == []
        with engine.connect() as db:
            assert db.execute(text("SELECT version_num FROM fleet_alembic_version")).scalar() == (
                "0006"
            )
            assert db.execute(text("SELECT direction, uuid FROM fleet_metadata")).all() == [
                ("emitidos", "U")
            ]
    finally:
        engine.dispose()
