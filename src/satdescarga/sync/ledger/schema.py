"""The ledger's tables, declared once (SQLAlchemy Core). What the ledger reads and writes.

The database itself is built and evolved only by the Alembic revisions in `migrations/`, applied
when a ledger is opened; a test checks that they produce exactly these tables. To change the
schema: edit these tables, then add a revision (`migrations/README.md`).

Dates are ISO 8601 text, states the values of `sync.states`; JSON columns are text.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

# Primary keys are declared nullable: that is what SQLite made of the first release's
# `id INTEGER PRIMARY KEY` (a rowid: never NULL) and `key TEXT PRIMARY KEY` (an SQLite quirk;
# nothing writes NULL there), so fresh and upgraded ledgers are alike. Other databases make every
# primary key NOT NULL whatever is declared.

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True, nullable=True),
    Column("value", Text, nullable=False),
)
"""Pre-Alembic releases kept `schema_version` here; `alembic_version` is what counts now."""

windows = Table(
    "windows",
    metadata,
    Column("id", Integer, primary_key=True, nullable=True),
    Column("job", Text, nullable=False),
    Column("start", Text, nullable=False),
    Column("end", Text, nullable=False),
    Column("parent_id", Integer, ForeignKey("windows.id")),
    Column("state", Text, nullable=False),
    Column("note", Text, nullable=False, server_default=text("''")),
    Column("documents", Integer, nullable=False, server_default=text("0")),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("purpose", Text, nullable=False, server_default=text("'period'")),  # WindowPurpose, r3
    Column("folio", Text, nullable=False, server_default=text("''")),  # a folio window's UUID, r3
    Column("not_before", Text),  # ask SAT for it no earlier than this (business time), r3
    UniqueConstraint("job", "start", "end", "folio"),
)

requests = Table(
    "requests",
    metadata,
    Column("id", Integer, primary_key=True, nullable=True),
    Column("window_id", Integer, ForeignKey("windows.id"), nullable=False),
    Column("criteria_key", Text, nullable=False),
    Column("criteria", Text, nullable=False),  # JSON
    Column("request_id", Text),  # SAT's IdSolicitud
    Column("cod_estatus", Text),
    Column("mensaje", Text),
    Column("state", Integer),  # SAT's EstadoSolicitud
    Column("state_code", Text),  # SAT's CodigoEstadoSolicitud
    Column("cfdi_count", Integer),
    Column("outcome", Text, nullable=False),  # RequestOutcome
    Column("origin", Text, nullable=False, server_default=text("'sent'")),  # RequestOrigin
    Column("sent_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("next_poll_at", Text),
    Index("requests_criteria", "criteria_key"),
    Index("requests_window", "window_id"),
)

request_events = Table(
    "request_events",
    metadata,
    Column("request_row", Integer, ForeignKey("requests.id"), nullable=False),
    Column("at", Text, nullable=False),
    Column("kind", Text, nullable=False),  # send | query | verify
    Column("code", Text),
    Column("state", Integer),
    Column("message", Text),
)

packages = Table(
    "packages",
    metadata,
    Column("package_id", Text, primary_key=True, nullable=True),
    Column("request_row", Integer, ForeignKey("requests.id"), nullable=False),
    Column("state", Text, nullable=False),  # PackageState
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("size", Integer),
    Column("sha256", Text),
    Column("path", Text),
    Column("documents", Integer),
    Column("reason", Text, nullable=False, server_default=text("''")),
    Column("updated_at", Text, nullable=False),
    Column("issue_counts", Text, nullable=False, server_default=text("'{}'")),  # JSON, revision 2
    Index("packages_request", "request_row"),  # revision 4
)

tokens = Table(
    "tokens",
    metadata,
    Column("service", Text, primary_key=True, nullable=True),
    Column("created", Text),
    Column("expires", Text),
)
"""Each service's last token: only its validity window, never the token."""

package_issues = Table(
    "package_issues",
    metadata,
    Column("package_id", Text, ForeignKey("packages.package_id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("entry", Text, nullable=False),
    Column("line", Integer),
    Column("message", Text, nullable=False),
    Index("package_issues_package", "package_id"),
)
"""What reading a package reported (revision 2); listed in insertion order (SQLite's rowid)."""
