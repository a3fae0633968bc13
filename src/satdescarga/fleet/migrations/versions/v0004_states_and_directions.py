"""A taxpayer's state with its reason; outputs keyed by direction too.

- `taxpayers.state`, `reason`, `failures`, `failing_since`: where the taxpayer stands
  (`fleet/states.py`), why, and how many steps in a row failed since when;
- `fleet_metadata`, `fleet_cfdi`: primary key (taxpayer, direction, UUID), so a CFDI a
  taxpayer issues to itself is kept once issued and once received (rows already there are
  unique on (taxpayer, UUID), so they keep their one direction; the other comes with the next
  read of that period, e.g. after `fleet reset`);
- `fleet_metadata_changed`: a document seen in both directions is recorded in
  `fleet_changes` once (it appeared, or changed status, once), not once per direction.

Revision 0001 creates its tables from the current `schema.py`, so a database created at this
release already has the columns and keys: every statement here is idempotent.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from satdescarga.sync.documents import APPEARED, CANCELLED, CANCELLED_STATUS, REACTIVATED

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None

COLUMNS = (
    "ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'nuevo'",
    "ADD COLUMN IF NOT EXISTS reason text",
    "ADD COLUMN IF NOT EXISTS failures integer NOT NULL DEFAULT 0",
    "ADD COLUMN IF NOT EXISTS failing_since timestamp without time zone",
)

# As revision 0001's, but a change the other direction's row already shows is not recorded
# twice (one document, one change).
CHANGED = f"""
CREATE OR REPLACE FUNCTION fleet_metadata_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text;
    previous text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        kind := '{APPEARED}';
        IF EXISTS (SELECT 1 FROM fleet_metadata m WHERE m.taxpayer = NEW.taxpayer
                AND m.uuid = NEW.uuid AND m.direction <> NEW.direction) THEN
            RETURN NEW;
        END IF;
    ELSIF OLD.estatus IS DISTINCT FROM NEW.estatus THEN
        kind := CASE NEW.estatus WHEN '{CANCELLED_STATUS}' THEN '{CANCELLED}'
                ELSE '{REACTIVATED}' END;
        previous := OLD.estatus;
        IF EXISTS (SELECT 1 FROM fleet_metadata m WHERE m.taxpayer = NEW.taxpayer
                AND m.uuid = NEW.uuid AND m.direction <> NEW.direction
                AND m.estatus IS NOT DISTINCT FROM NEW.estatus) THEN
            RETURN NEW;
        END IF;
    ELSE
        RETURN NEW;
    END IF;
    INSERT INTO fleet_changes (taxpayer, uuid, change, estatus_anterior, estatus,
        fecha_cancelacion, fecha_emision, rfc_emisor, rfc_receptor, monto, paquete,
        discovered_at)
    VALUES (NEW.taxpayer, NEW.uuid, kind, previous, NEW.estatus, NEW.fecha_cancelacion,
        NEW.fecha_emision, NEW.rfc_emisor, NEW.rfc_receptor, NEW.monto, NEW.paquete,
        COALESCE(NULLIF(current_setting('satdescarga.discovered_at', true), '')::timestamp,
                 localtimestamp));
    RETURN NEW;
END $$;
"""


def _primary_key(table: str, columns: str) -> None:
    """Rebuild `table`'s primary key on `columns` unless it already is (a fresh database):
    the rebuild locks the table while its index is built."""
    current = sa.inspect(op.get_bind()).get_pk_constraint(table)["constrained_columns"]
    if current == [name.strip() for name in columns.split(",")]:
        return
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_pkey")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({columns})")


def upgrade() -> None:
    op.execute("ALTER TABLE taxpayers " + ", ".join(COLUMNS))
    for table in ("fleet_metadata", "fleet_cfdi"):
        _primary_key(table, "taxpayer, direction, uuid")
    op.execute(CHANGED)


def downgrade() -> None:
    for table in ("fleet_metadata", "fleet_cfdi"):  # one direction of each self-invoice goes
        op.execute(
            f"DELETE FROM {table} a USING {table} b WHERE a.taxpayer = b.taxpayer "
            "AND a.uuid = b.uuid AND a.direction = 'recibidos' AND b.direction = 'emitidos'"
        )
        _primary_key(table, "taxpayer, uuid")  # the trigger's new body works on either key
    op.execute(
        "ALTER TABLE taxpayers DROP COLUMN state, DROP COLUMN reason, DROP COLUMN failures, "
        "DROP COLUMN failing_since"
    )
