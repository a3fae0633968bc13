"""XML in a directory every worker shares; both service families per taxpayer.

- `fleet_settings` (the fleet's id, written in the shared directory's marker; the directory);
- `fleet_xml.path` (where an XML lies in that directory) and `content` may be NULL then;
- `fleet_metadata.service`, `fleet_cfdi.service` (cfdi or retenciones: a taxpayer may have
  both, and XML missing from one family is asked for on that family's service only).

Revision 0001 creates its tables from the current `schema.py`, so a database created at this
release already has these columns: every statement here is idempotent.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from satdescarga.fleet.schema import FLEET_ID, metadata

    for table in ("fleet_metadata", "fleet_cfdi"):
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS service text NOT NULL DEFAULT 'cfdi'"
        )
    op.execute("ALTER TABLE fleet_xml ADD COLUMN IF NOT EXISTS path text")
    op.execute("ALTER TABLE fleet_xml ALTER COLUMN content DROP NOT NULL")
    op.execute("ALTER TABLE fleet_xml DROP CONSTRAINT IF EXISTS fleet_xml_somewhere")
    op.execute(
        "ALTER TABLE fleet_xml ADD CONSTRAINT fleet_xml_somewhere "
        "CHECK (content IS NOT NULL OR path IS NOT NULL)"
    )
    metadata.tables["fleet_settings"].create(op.get_bind(), checkfirst=True)
    op.get_bind().execute(
        sa.text(
            "INSERT INTO fleet_settings (name, value) VALUES (:name, :value) "
            "ON CONFLICT (name) DO NOTHING"
        ),
        {"name": FLEET_ID, "value": uuid.uuid4().hex},
    )


def downgrade() -> None:
    kept = op.get_bind().execute(sa.text("SELECT count(*) FROM fleet_xml WHERE content IS NULL"))
    if kept.scalar():
        raise RuntimeError("XML in the shared directory: bring it into fleet_xml first")
    op.drop_table("fleet_settings")
    op.execute("ALTER TABLE fleet_xml DROP CONSTRAINT IF EXISTS fleet_xml_somewhere")
    op.execute("ALTER TABLE fleet_xml ALTER COLUMN content SET NOT NULL")
    op.execute("ALTER TABLE fleet_xml DROP COLUMN path")
    for table in ("fleet_metadata", "fleet_cfdi"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN service")
