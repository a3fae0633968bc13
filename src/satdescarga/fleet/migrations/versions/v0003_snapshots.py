"""Newest answer wins: each output row carries the moment of SAT's snapshot it came from.

- `fleet_metadata.fecha_consulta`, `fleet_cfdi.fecha_consulta`: when the request of the row's
  package was sent (rows written before this revision have none: they count as the oldest);
- triggers that ignore an update from an older snapshot, and keep a cancelled document
  cancelled: SAT showing it `Vigente` in a newer snapshot (or `Cancelado` in an older one than
  a `Vigente` row) is recorded in `fleet_changes` as an `anomalia`, once per pair of packages.

Revision 0001 creates its tables from the current `schema.py`, so a database created at this
release already has the columns: every statement here is idempotent.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from satdescarga.packages import SNAPSHOT
from satdescarga.sync.documents import ACTIVE, ANOMALY, CANCELLED_STATUS

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

_OLDER = (
    f"COALESCE(NEW.{SNAPSHOT}, '-infinity'::timestamp) "
    f"< COALESCE(OLD.{SNAPSHOT}, '-infinity'::timestamp)"
)

RULES = f"""
CREATE OR REPLACE FUNCTION fleet_cfdi_snapshot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF {_OLDER} THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS fleet_cfdi_snapshot ON fleet_cfdi;
CREATE TRIGGER fleet_cfdi_snapshot BEFORE UPDATE ON fleet_cfdi
    FOR EACH ROW EXECUTE FUNCTION fleet_cfdi_snapshot();

CREATE OR REPLACE FUNCTION fleet_metadata_snapshot() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    older boolean := {_OLDER};
    cancelled fleet_metadata;
    active fleet_metadata;
BEGIN
    IF older AND NEW.estatus = '{CANCELLED_STATUS}'
            AND OLD.estatus IS DISTINCT FROM '{CANCELLED_STATUS}' THEN
        cancelled := NEW;  -- an older snapshot saw it cancelled, the newer one active
        active := OLD;
    ELSIF NOT older AND OLD.estatus = '{CANCELLED_STATUS}'
            AND NEW.estatus IS DISTINCT FROM '{CANCELLED_STATUS}' THEN
        cancelled := OLD;  -- SAT never un-cancels: the document stays cancelled
        active := NEW;
    ELSIF older THEN
        RETURN NULL;
    ELSE
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM fleet_changes c WHERE c.taxpayer = NEW.taxpayer
            AND c.uuid = NEW.uuid AND c.change = '{ANOMALY}'
            AND c.paquete IS NOT DISTINCT FROM active.paquete) THEN
        INSERT INTO fleet_changes (taxpayer, uuid, change, estatus_anterior, estatus,
            fecha_cancelacion, fecha_emision, rfc_emisor, rfc_receptor, monto, paquete,
            discovered_at)
        VALUES (NEW.taxpayer, NEW.uuid, '{ANOMALY}', '{CANCELLED_STATUS}', '{ACTIVE}',
            cancelled.fecha_cancelacion, NEW.fecha_emision, NEW.rfc_emisor, NEW.rfc_receptor,
            NEW.monto, active.paquete,
            COALESCE(NULLIF(current_setting('satdescarga.discovered_at', true), '')::timestamp,
                     localtimestamp));
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS fleet_metadata_snapshot ON fleet_metadata;
CREATE TRIGGER fleet_metadata_snapshot BEFORE UPDATE ON fleet_metadata
    FOR EACH ROW EXECUTE FUNCTION fleet_metadata_snapshot();
"""


def upgrade() -> None:
    for table in ("fleet_metadata", "fleet_cfdi"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {SNAPSHOT} timestamp")
    op.execute(RULES)


def downgrade() -> None:
    for table in ("fleet_metadata", "fleet_cfdi"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_snapshot ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_snapshot()")
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {SNAPSHOT}")
