"""The read model of `satdescarga serve`: the change feed's order and the documents' pages.

- `fleet_changes.txid` (xid8, the recording transaction; rows already there get this
  revision's): the feed lists changes by (txid, id), only those of transactions older than
  every running one, so a cursor never skips a change committed late;
- indexes: `fleet_changes_feed` (txid, id), `fleet_metadata_newest` (FechaEmision, taxpayer,
  direction, UUID), `fleet_metadata_taxpayer_newest` (taxpayer first), `fleet_metadata_uuid`,
  `fleet_xml_uuid`;
- `fleet_document_counts`: each taxpayer's documents and XML, kept by statement triggers
  (fleet/counts.py), counted once here.

Revision 0001 creates its tables from the current `schema.py`, so a database created at this
release already has them: every statement here is idempotent.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from satdescarga.fleet.counts import RECOUNT, TRIGGERS
    from satdescarga.fleet.schema import READ_INDEXES, fleet_document_counts

    op.execute(
        "ALTER TABLE fleet_changes ADD COLUMN IF NOT EXISTS txid xid8 NOT NULL "
        "DEFAULT pg_current_xact_id()"
    )
    bind = op.get_bind()
    for index in READ_INDEXES:
        index.create(bind, checkfirst=True)
    fleet_document_counts.create(bind, checkfirst=True)
    op.execute(TRIGGERS)
    op.execute(RECOUNT)


def downgrade() -> None:
    from satdescarga.fleet.schema import READ_INDEXES

    for trigger, table in (
        ("fleet_metadata_added", "fleet_metadata"),
        ("fleet_metadata_removed", "fleet_metadata"),
        ("fleet_xml_added", "fleet_xml"),
        ("fleet_xml_removed", "fleet_xml"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS fleet_metadata_counted(), fleet_xml_counted()")
    op.execute("DROP TABLE IF EXISTS fleet_document_counts")
    for index in READ_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {index.name}")
    op.execute("ALTER TABLE fleet_changes DROP COLUMN IF EXISTS txid")
