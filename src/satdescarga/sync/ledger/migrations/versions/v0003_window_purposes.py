"""Windows with a purpose (`period`, `sweep`, `recheck`, `folio`), the UUID of a folio window,
and `not_before` (a window SAT told us to ask for later, e.g. 5011 until the next day). The
window's key becomes (job, start, end, folio): many folio windows may share a date.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

SQLite cannot change a table's constraints in place: the table is rebuilt (the twelve steps of
SQLite's documentation; `migrate.upgrade` runs revisions with foreign keys off and checks them
before committing).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD = ["id", "job", "start", "end", "parent_id", "state", "note", "documents"]
OLD += ["created_at", "updated_at"]


def _windows(name: str, unique: tuple[str, ...], new_columns: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("id", sa.Integer(), primary_key=True, nullable=True),
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("start", sa.Text(), nullable=False),
        sa.Column("end", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("windows.id")),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=sa.text("''")),
        sa.Column("documents", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
    ]
    if new_columns:
        columns += [
            sa.Column("purpose", sa.Text(), nullable=False, server_default=sa.text("'period'")),
            sa.Column("folio", sa.Text(), nullable=False, server_default=sa.text("''")),
            sa.Column("not_before", sa.Text()),
        ]
    op.create_table(name, *columns, sa.UniqueConstraint(*unique))


def _rebuild(unique: tuple[str, ...], new_columns: bool) -> None:
    _windows("windows_rebuilt", unique, new_columns)
    names = ", ".join(f'"{name}"' for name in OLD)
    op.execute(f"INSERT INTO windows_rebuilt ({names}) SELECT {names} FROM windows")
    op.drop_table("windows")
    op.rename_table("windows_rebuilt", "windows")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(("job", "start", "end", "folio"), new_columns=True)
        return
    for column in (
        sa.Column("purpose", sa.Text(), nullable=False, server_default=sa.text("'period'")),
        sa.Column("folio", sa.Text(), nullable=False, server_default=sa.text("''")),
        sa.Column("not_before", sa.Text()),
    ):
        op.add_column("windows", column)
    (old,) = sa.inspect(op.get_bind()).get_unique_constraints("windows")
    op.drop_constraint(str(old["name"]), "windows", type_="unique")
    op.create_unique_constraint(None, "windows", ["job", "start", "end", "folio"])


def downgrade() -> None:
    # Older releases know no other purposes: those windows go, with what hangs from them.
    others = "SELECT id FROM windows WHERE purpose <> 'period'"
    requests = f"SELECT id FROM requests WHERE window_id IN ({others})"
    packages = f"SELECT package_id FROM packages WHERE request_row IN ({requests})"
    op.execute(f"DELETE FROM package_issues WHERE package_id IN ({packages})")
    op.execute(f"DELETE FROM packages WHERE request_row IN ({requests})")
    op.execute(f"DELETE FROM request_events WHERE request_row IN ({requests})")
    op.execute(f"DELETE FROM requests WHERE window_id IN ({others})")
    op.execute(f"DELETE FROM windows WHERE id IN ({others})")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(("job", "start", "end"), new_columns=False)
        return
    (new,) = sa.inspect(op.get_bind()).get_unique_constraints("windows")
    op.drop_constraint(str(new["name"]), "windows", type_="unique")
    op.create_unique_constraint(None, "windows", ["job", "start", "end"])
    for name in ("not_before", "folio", "purpose"):
        op.drop_column("windows", name)
