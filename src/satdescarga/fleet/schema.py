"""The fleet's own tables (SQLAlchemy Core), beside the ledger's (`sync.schema`), in PostgreSQL.

- `taxpayers`: who is kept current, the e.firma sealed (vault.py), the policy, and the last
  step's outcome and the taxpayer's state with its reason (what `fleet status` shows).
- `fleet_metadata`, `fleet_cfdi`: the outputs, keyed by (taxpayer RFC, direction, UUID) (a
  CFDI a taxpayer issues to itself is kept once issued and once received), with the service
  family, written with COPY (outputs.py); `fleet_xml`: each CFDI's
  XML, compressed, or where it lies in the shared XML directory (xmldir.py);
  `fleet_changes`: every document that appeared or changed status, recorded by triggers
  (the fleet's `document_changes`).
- `fleet_throttle`, `fleet_health`: the limits every worker shares (limits.py).
- `fleet_settings`: the fleet's own facts (its id; the shared XML directory, if any).
- `web_*`: the people, sessions, API tokens and audit log of `satdescarga serve`.

Built and evolved only by the Alembic revisions in `migrations/` (version table
`fleet_alembic_version`), applied by `fleet init`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.base import ischema_names as pg_types
from sqlalchemy.types import UserDefinedType

from satdescarga.packages import CFDI_TABLE, METADATA_TABLE, ColumnType
from satdescarga.packages import Table as OutputTable

metadata = MetaData()
VERSION_TABLE = "fleet_alembic_version"

taxpayers = Table(
    "taxpayers",
    metadata,
    Column("rfc", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("serial", Text, nullable=False),  # the certificate's serial number
    Column("valid_until", DateTime(timezone=True), nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # certificate, key and password (AES-GCM)
    Column("key_id", Text, nullable=False),  # which master key sealed it
    Column("policy", Text, nullable=False),  # JSON (policy.py)
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("next_run_at", DateTime),  # business time (Mexico City): when a step is due
    Column("last_run_at", DateTime),  # business time
    Column("last_result", Text),  # StepResult
    Column("last_error", Text),
    Column("summary", Text),  # JSON: the last step's summary fields
    Column("steps", Integer, nullable=False, server_default=text("0")),
    # rev. 0004: where the taxpayer stands (states.py) and why, in one Spanish sentence
    Column("state", Text, nullable=False, server_default=text("'nuevo'")),
    Column("reason", Text),
    Column("failures", Integer, nullable=False, server_default=text("0")),  # steps in a row
    Column("failing_since", DateTime),  # business time: the first of those failed steps
)

_TYPES: dict[ColumnType, Any] = {
    ColumnType.TEXT: Text,
    ColumnType.DATETIME: DateTime,  # SAT's local times, as the packages give them
    ColumnType.DECIMAL: Numeric,
    ColumnType.INTEGER: Integer,
    ColumnType.LIST: ARRAY(Text),
}


def _output(name: str, source: OutputTable) -> Table:
    """An output table: the taxpayer, the direction, the service family (cfdi, retenciones),
    then the columns of `source`."""
    columns = [Column(c.name, _TYPES[c.type]) for c in source.columns]
    return Table(
        name,
        metadata,
        Column("taxpayer", Text, nullable=False),
        Column("direction", Text, nullable=False),
        Column("service", Text, nullable=False, server_default=text("'cfdi'")),  # rev. 0002
        *columns,
        PrimaryKeyConstraint("taxpayer", "direction", "uuid"),  # rev. 0004: self-invoices
    )


fleet_metadata = _output("fleet_metadata", METADATA_TABLE)
Index("fleet_metadata_issued", fleet_metadata.c.taxpayer, fleet_metadata.c.fecha_emision)
fleet_cfdi = _output("fleet_cfdi", CFDI_TABLE)

fleet_xml = Table(
    "fleet_xml",
    metadata,
    Column("taxpayer", Text, nullable=False),
    Column("uuid", Text, nullable=False),
    Column("size", Integer, nullable=False),  # bytes of the XML
    Column("content", LargeBinary),  # zlib; NULL when the XML lies in the shared directory
    Column("path", Text),  # rev. 0002: its place in the shared XML directory (relative)
    PrimaryKeyConstraint("taxpayer", "uuid"),
    CheckConstraint("content IS NOT NULL OR path IS NOT NULL", name="fleet_xml_somewhere"),
)

fleet_settings = Table(
    "fleet_settings",
    metadata,
    Column("name", Text, primary_key=True),  # FLEET_ID, XML_DIR
    Column("value", Text, nullable=False),
)
FLEET_ID, XML_DIR = "fleet_id", "xml_dir"

fleet_changes = Table(
    "fleet_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("taxpayer", Text, nullable=False),
    Column("uuid", Text, nullable=False),
    Column("change", Text, nullable=False),  # sync.documents: APPEARED, CANCELLED, REACTIVATED
    Column("estatus_anterior", Text),
    Column("estatus", Text),
    Column("fecha_cancelacion", DateTime),
    Column("fecha_emision", DateTime),
    Column("rfc_emisor", Text),
    Column("rfc_receptor", Text),
    Column("monto", Numeric),
    Column("paquete", Text),
    Column("discovered_at", DateTime, nullable=False),  # business time (Mexico City)
    Index("fleet_changes_taxpayer", "taxpayer", "discovered_at"),
)

fleet_throttle = Table(
    "fleet_throttle",
    metadata,
    Column("name", Text, primary_key=True),
    Column("next_at", DateTime(timezone=True), nullable=False),  # the next free slot
)

fleet_health = Table(
    "fleet_health",
    metadata,
    Column("name", Text, primary_key=True),
    Column("failures", Integer, nullable=False, server_default=text("0")),
    Column("taxpayers", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("open_until", DateTime(timezone=True)),
    Column("pause", Float, nullable=False, server_default=text("0")),  # seconds, last pause
    Column("pauses", Integer, nullable=False, server_default=text("0")),
    Column("active", Boolean, nullable=False, server_default=text("false")),
)

# --- web accounts (revision 0005, the serve issue's H2): people, sessions, API tokens, the
# audit log and failed logins of `satdescarga serve` (web/accounts/postgres.py). Passwords are
# argon2id hashes; session ids and tokens are stored as their SHA-256 only.
web_users = Table(
    "web_users",
    metadata,
    Column("name", Text, primary_key=True),
    Column("role", Text, nullable=False),  # viewer, operator, admin
    Column("rfcs", ARRAY(Text), nullable=False, server_default=text("'{}'")),  # {}: all
    Column("password_hash", Text, nullable=False),  # argon2id (PHC string)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True)),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", Text, primary_key=True),  # SHA-256 of the cookie's value
    Column(
        "user_name",
        Text,
        ForeignKey("web_users.name", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("address", Text),
    Index("web_sessions_user", "user_name"),
)

web_tokens = Table(
    "web_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("rfcs", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("secret_hash", Text, nullable=False, unique=True),  # SHA-256 of the token
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

web_audit = Table(
    "web_audit",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", Text),  # a user's or token's name; NULL: someone unknown
    Column("action", Text, nullable=False),
    Column("target", Text),
    Column("address", Text),
    Column("detail", Text),
)

web_login_failures = Table(
    "web_login_failures",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("username", Text, nullable=False),  # as typed (normalized), known or not
    Column("address", Text, nullable=False),
    Index("web_login_failures_user", "username", "at"),
    Index("web_login_failures_address", "address", "at"),
)
WEB_TABLES = ("web_users", "web_sessions", "web_tokens", "web_audit", "web_login_failures")
# --- end of web accounts

# -- the read model (serve), rev. 0006 -------------------------------------------------------
# `fleet_changes.txid`: the transaction that recorded the change (xid8), so the change feed is
# listed in an order no late commit can break (readmodel/fleet_documents.py); the indexes the
# documents' keyset pages and the feed walk; `fleet_document_counts` (fleet/counts.py).


class Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


pg_types["xid8"] = Xid8  # what reflection (alembic's comparison) reads the column as
fleet_changes.append_column(
    Column("txid", Xid8(), nullable=False, server_default=text("pg_current_xact_id()"))
)
fleet_document_counts = Table(  # counts.py: kept by statement triggers
    "fleet_document_counts",
    metadata,
    Column("taxpayer", Text, primary_key=True),
    Column("documents", Integer, nullable=False, server_default=text("0")),
    Column("xml", Integer, nullable=False, server_default=text("0")),
)
READ_INDEXES = (
    Index("fleet_changes_feed", fleet_changes.c.txid, fleet_changes.c.id),
    Index(
        "fleet_metadata_newest",
        fleet_metadata.c.fecha_emision,
        fleet_metadata.c.taxpayer,
        fleet_metadata.c.direction,
        fleet_metadata.c.uuid,
    ),
    Index(
        "fleet_metadata_taxpayer_newest",
        fleet_metadata.c.taxpayer,
        fleet_metadata.c.fecha_emision,
        fleet_metadata.c.direction,
        fleet_metadata.c.uuid,
    ),
    Index("fleet_metadata_uuid", fleet_metadata.c.uuid),
    Index("fleet_xml_uuid", fleet_xml.c.uuid),
)
