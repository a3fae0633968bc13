"""The fleet as first released: taxpayers, outputs keyed by (taxpayer, UUID), shared limits.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from satdescarga.sync.documents import APPEARED, CANCELLED, CANCELLED_STATUS, REACTIVATED

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

TABLES = (
    "taxpayers",
    "fleet_metadata",
    "fleet_cfdi",
    "fleet_xml",
    "fleet_changes",
    "fleet_throttle",
    "fleet_health",
)

# Every metadata row that appears, and every change of its status, is recorded in the same
# transaction (as the SQLite triggers of sync/documents.py do for a single taxpayer).
# `discovered_at` is the business time the writer set with SET LOCAL satdescarga.discovered_at.
TRIGGERS = f"""
CREATE FUNCTION fleet_metadata_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text;
    previous text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        kind := '{APPEARED}';
    ELSIF OLD.estatus IS DISTINCT FROM NEW.estatus THEN
        kind := CASE NEW.estatus WHEN '{CANCELLED_STATUS}' THEN '{CANCELLED}'
                ELSE '{REACTIVATED}' END;
        previous := OLD.estatus;
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
CREATE TRIGGER fleet_metadata_changed AFTER INSERT OR UPDATE OF estatus ON fleet_metadata
    FOR EACH ROW EXECUTE FUNCTION fleet_metadata_changed();
"""


def upgrade() -> None:
    from satdescarga.fleet.schema import metadata

    bind = op.get_bind()
    metadata.create_all(bind, tables=[metadata.tables[name] for name in TABLES])
    op.execute(TRIGGERS)
    op.bulk_insert(sa.table("fleet_health", sa.column("name", sa.Text)), [{"name": "sat"}])


def downgrade() -> None:
    op.execute("DROP TRIGGER fleet_metadata_changed ON fleet_metadata")
    op.execute("DROP FUNCTION fleet_metadata_changed()")
    for name in reversed(TABLES):
        op.drop_table(name)
