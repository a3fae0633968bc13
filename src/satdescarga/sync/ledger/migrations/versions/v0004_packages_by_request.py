"""An index of packages by their request: the engine reads a job's packages through their
requests several times per pass, and a fleet's ledger holds every taxpayer's packages (without
it, each such read scanned them all).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    indexes = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("packages")}
    if "packages_request" not in indexes:
        op.create_index("packages_request", "packages", ["request_row"])


def downgrade() -> None:
    op.drop_index("packages_request", "packages")
