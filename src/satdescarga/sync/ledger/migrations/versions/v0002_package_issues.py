"""What reading each package reported: table `package_issues`, column `packages.issue_counts`
(pre-Alembic `schema_version` 2).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Tolerant of a pre-Alembic upgrade cut short: that release created the table and added the column
in two steps, before recording version 2, so a ledger marked 1 may already have either.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("package_issues"):
        op.create_table(
            "package_issues",
            sa.Column(
                "package_id", sa.Text(), sa.ForeignKey("packages.package_id"), nullable=False
            ),
            sa.Column("kind", sa.Text(), nullable=False),
            sa.Column("entry", sa.Text(), nullable=False),
            sa.Column("line", sa.Integer()),
            sa.Column("message", sa.Text(), nullable=False),
        )
    indexes = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("package_issues")}
    if "package_issues_package" not in indexes:
        op.create_index("package_issues_package", "package_issues", ["package_id"])
    if "issue_counts" not in {column["name"] for column in inspector.get_columns("packages")}:
        op.add_column(
            "packages",
            sa.Column("issue_counts", sa.Text(), nullable=False, server_default=sa.text("'{}'")),
        )


def downgrade() -> None:
    op.drop_column("packages", "issue_counts")
    op.drop_index("package_issues_package", "package_issues")
    op.drop_table("package_issues")
