"""The people of `satdescarga serve`: users, sessions, API tokens, the audit log and failed
logins (`web_users`, `web_sessions`, `web_tokens`, `web_audit`, `web_login_failures`).

Revision 0001 creates only its own tables, so these are created here, from the current
`schema.py`, when missing.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from satdescarga.fleet.schema import WEB_TABLES, metadata

    tables = [metadata.tables[name] for name in WEB_TABLES]
    metadata.create_all(op.get_bind(), tables=tables, checkfirst=True)


def downgrade() -> None:
    from satdescarga.fleet.schema import WEB_TABLES

    for name in reversed(WEB_TABLES):
        op.drop_table(name)
