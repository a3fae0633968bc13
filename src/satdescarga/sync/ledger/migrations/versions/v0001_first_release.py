"""The ledger as the first release shipped it (pre-Alembic `schema_version` 1).

Revision ID: 0001
Revises:
Create Date: 2026-12-02

A ledger written by that release (a `meta` table with schema_version 1, no `alembic_version`) is
stamped with this revision when opened, then upgraded.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TEXT, INTEGER = sa.Text(), sa.Integer()


def upgrade() -> None:
    # Primary keys nullable: what SQLite made of the first release's DDL (see ledger/schema.py).
    op.create_table(
        "meta",
        sa.Column("key", TEXT, primary_key=True, nullable=True),
        sa.Column("value", TEXT, nullable=False),
    )
    op.create_table(
        "windows",
        sa.Column("id", INTEGER, primary_key=True, nullable=True),
        sa.Column("job", TEXT, nullable=False),
        sa.Column("start", TEXT, nullable=False),
        sa.Column("end", TEXT, nullable=False),
        sa.Column("parent_id", INTEGER, sa.ForeignKey("windows.id")),
        sa.Column("state", TEXT, nullable=False),
        sa.Column("note", TEXT, nullable=False, server_default=sa.text("''")),
        sa.Column("documents", INTEGER, nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
        sa.UniqueConstraint("job", "start", "end"),
    )
    op.create_table(
        "requests",
        sa.Column("id", INTEGER, primary_key=True, nullable=True),
        sa.Column("window_id", INTEGER, sa.ForeignKey("windows.id"), nullable=False),
        sa.Column("criteria_key", TEXT, nullable=False),
        sa.Column("criteria", TEXT, nullable=False),
        sa.Column("request_id", TEXT),
        sa.Column("cod_estatus", TEXT),
        sa.Column("mensaje", TEXT),
        sa.Column("state", INTEGER),
        sa.Column("state_code", TEXT),
        sa.Column("cfdi_count", INTEGER),
        sa.Column("outcome", TEXT, nullable=False),
        sa.Column("origin", TEXT, nullable=False, server_default=sa.text("'sent'")),
        sa.Column("sent_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
        sa.Column("next_poll_at", TEXT),
    )
    op.create_index("requests_criteria", "requests", ["criteria_key"])
    op.create_index("requests_window", "requests", ["window_id"])
    op.create_table(
        "request_events",
        sa.Column("request_row", INTEGER, sa.ForeignKey("requests.id"), nullable=False),
        sa.Column("at", TEXT, nullable=False),
        sa.Column("kind", TEXT, nullable=False),
        sa.Column("code", TEXT),
        sa.Column("state", INTEGER),
        sa.Column("message", TEXT),
    )
    op.create_table(
        "packages",
        sa.Column("package_id", TEXT, primary_key=True, nullable=True),
        sa.Column("request_row", INTEGER, sa.ForeignKey("requests.id"), nullable=False),
        sa.Column("state", TEXT, nullable=False),
        sa.Column("attempts", INTEGER, nullable=False, server_default=sa.text("0")),
        sa.Column("size", INTEGER),
        sa.Column("sha256", TEXT),
        sa.Column("path", TEXT),
        sa.Column("documents", INTEGER),
        sa.Column("reason", TEXT, nullable=False, server_default=sa.text("''")),
        sa.Column("updated_at", TEXT, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("service", TEXT, primary_key=True, nullable=True),
        sa.Column("created", TEXT),
        sa.Column("expires", TEXT),
    )


def downgrade() -> None:
    for table in ("tokens", "packages", "request_events", "requests", "windows", "meta"):
        op.drop_table(table)
