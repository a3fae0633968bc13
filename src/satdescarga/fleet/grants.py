"""A worker's role: what it may do on the fleet's database (`fleet init --grant ROLE`, run by
the tables' owner) and the worker's check of it at start.

The fleet's objects are those its owner has in the fleet's schema (where `fleet init` made
`fleet_alembic_version`): the ledger's, the fleet's and procrastinate's tables, sequences and
functions, whatever revision added them, so granting again after each upgrade covers the new
ones. A worker needs: CONNECT and TEMPORARY on the database (a package is read through a
temporary table, outputs.py), USAGE on the schema, SELECT on the two version tables (it never
migrates), SELECT, INSERT, UPDATE and DELETE on every other table, USAGE on the sequences and
EXECUTE on the functions (procrastinate's and the triggers'). Nothing else: no DDL, no
TRUNCATE, no ownership.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from satdescarga.errors import ConfigurationError
from satdescarga.fleet.schema import VERSION_TABLE

VERSION_TABLES = ("alembic_version", VERSION_TABLE)
WRITE = ("SELECT", "INSERT", "UPDATE", "DELETE")


class GrantError(ConfigurationError):
    """A worker's role lacks a privilege, or `--grant` cannot be done (exit code 2)."""


@dataclass(frozen=True)
class Fleet:
    """Where the fleet's objects are: their schema and their owner."""

    schema_oid: int
    schema: str
    owner: str


# The schema holding `fleet_alembic_version` (one per database in practice; else the first on
# the search path). Read from the catalogs: no privilege on the tables is needed.
_FLEET = text(
    "SELECT n.oid, n.nspname, pg_get_userbyid(c.relowner) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relname = :version AND c.relkind IN ('r', 'p') "
    "ORDER BY array_position(current_schemas(false), n.nspname) NULLS LAST, n.nspname LIMIT 1"
)
# (order, kind, oid, name, privilege) of each privilege a worker needs.
_NEEDED = """
SELECT 1, 'database', d.oid, d.datname::text, p FROM pg_database d
  CROSS JOIN unnest(ARRAY['CONNECT', 'TEMPORARY']) AS p WHERE d.datname = current_database()
UNION ALL
SELECT 2, 'schema', n.oid, n.nspname::text, 'USAGE' FROM pg_namespace n WHERE n.oid = :ns
UNION ALL
SELECT 3, 'table', c.oid, c.relname::text, p FROM pg_class c CROSS JOIN LATERAL unnest(
    CASE WHEN c.relname = ANY(CAST(:versions AS name[])) THEN ARRAY['SELECT']
    ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'] END) AS p
  WHERE c.relnamespace = :ns AND c.relkind IN ('r', 'p') AND pg_get_userbyid(c.relowner) = :owner
UNION ALL
SELECT 4, 'sequence', c.oid, c.relname::text, 'USAGE' FROM pg_class c
  WHERE c.relnamespace = :ns AND c.relkind = 'S' AND pg_get_userbyid(c.relowner) = :owner
UNION ALL
SELECT 5, 'function', f.oid, f.oid::regprocedure::text, 'EXECUTE' FROM pg_proc f
  WHERE f.pronamespace = :ns AND pg_get_userbyid(f.proowner) = :owner
"""
_ALL = text(
    f"SELECT kind, name, privilege FROM ({_NEEDED}) AS needed(ord, kind, id, name, privilege) "
    "ORDER BY ord, name, privilege"
)
_MISSING = text(  # MATERIALIZED: each check sees only objects of its kind
    f"WITH needed(ord, kind, id, name, privilege) AS MATERIALIZED ({_NEEDED}) "
    "SELECT kind, name, privilege FROM needed WHERE NOT CASE kind "
    + " ".join(
        f"WHEN '{kind}' THEN has_{kind}_privilege(CAST(:role AS name), id, privilege)"
        for kind in ("database", "schema", "table", "sequence", "function")
    )
    + " END ORDER BY ord, name, privilege"
)
_SPANISH = {
    "database": "la base",
    "schema": "el esquema",
    "table": "la tabla",
    "sequence": "la secuencia",
    "function": "la función",
}


def fleet_of(db: Connection) -> Fleet | None:
    """The fleet's schema and owner (None: `fleet init` never ran on this database)."""
    row = db.execute(_FLEET, {"version": VERSION_TABLE}).first()
    return Fleet(int(row[0]), str(row[1]), str(row[2])) if row else None


def missing(db: Connection, fleet: Fleet, role: str) -> list[tuple[str, str, str]]:
    """(kind, name, privilege) that `role` needs and lacks, in a stable order. Works for a role
    that may read nothing (privilege functions on the catalogs' object ids)."""
    return _rows(db, _MISSING, fleet, role=role)


def _rows(db: Connection, query: Any, fleet: Fleet, **more: str) -> list[tuple[str, str, str]]:
    params = {"ns": fleet.schema_oid, "owner": fleet.owner, "versions": list(VERSION_TABLES)}
    rows = db.execute(query, {**params, **more}).all()
    return [(str(kind), str(name), str(privilege)) for kind, name, privilege in rows]


def check_role(db: Connection) -> None:
    """Refuse, in one sentence naming the first missing privilege, a worker whose role cannot
    do all a step does (rather than failing later, step after step)."""
    fleet = fleet_of(db)
    if fleet is None:
        return  # not initialized: the version check says what to do
    role = str(db.execute(text("SELECT current_user")).scalar())
    lacking = missing(db, fleet, role)
    if not lacking:
        return
    kind, name, privilege = lacking[0]
    shown = "TEMP" if privilege == "TEMPORARY" else privilege
    others = len(lacking) - 1
    more = f" (y {others} {'permiso' if others == 1 else 'permisos'} más)" if others else ""
    raise GrantError(
        f"el rol {role} no tiene permiso {shown} en {_SPANISH[kind]} {name}{more}: ejecute "
        f"'satdescarga fleet init --db URL --grant {role}' como dueño ({fleet.owner})"
    )


def check_owner(db: Connection) -> None:
    """Refuse `fleet init` (and its grants) by a role that does not own the fleet's tables."""
    fleet = fleet_of(db)
    if fleet is None:
        return  # a new fleet: the role running `init` becomes its owner
    allowed = db.execute(
        text("SELECT pg_has_role(current_user, :owner, 'USAGE')"), {"owner": fleet.owner}
    ).scalar()
    if not allowed:
        raise GrantError(
            f"solo el dueño de las tablas de la flota ({fleet.owner}) o un superusuario puede "
            "ejecutar 'fleet init' (y dar permisos con --grant): conéctese como ese rol"
        )


def grant(db: Connection, roles: Sequence[str]) -> None:
    """Grant each role exactly what a worker needs on the fleet's current objects (idempotent;
    run again after each upgrade, by the owner or a superuser), in the caller's transaction."""
    fleet = fleet_of(db)
    if fleet is None:  # `init` made it just before: never expected
        raise GrantError("la base de la flota no tiene tablas: ejecute 'satdescarga fleet init'")
    check_owner(db)
    quote = db.dialect.identifier_preparer.quote_identifier
    for role in roles:
        exists = db.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        if exists.first() is None:
            raise GrantError(
                f"el rol {role} no existe en el servidor: créelo primero "
                f"(CREATE ROLE {quote(role)} LOGIN PASSWORD '…')"
            )
        # Everything the role needs, whether it has it already or not (PUBLIC's defaults,
        # such as TEMPORARY on the database, may be revoked later).
        needed = _rows(db, _ALL, fleet)
        for statement in _grants(needed, fleet, quote(role), quote):
            db.execute(text(statement))


def _grants(
    needed: list[tuple[str, str, str]], fleet: Fleet, role: str, quote: Callable[[str], str]
) -> list[str]:
    """One GRANT per object, its privileges together."""
    by_object: dict[tuple[str, str], list[str]] = {}
    for kind, name, privilege in needed:
        by_object.setdefault((kind, name), []).append(privilege)
    schema = quote(fleet.schema)
    statements = []
    for (kind, name), privileges in by_object.items():
        what = ", ".join(privileges)
        target = {
            "database": f"DATABASE {quote(name)}",
            "schema": f"SCHEMA {quote(name)}",
            "table": f"TABLE {schema}.{quote(name)}",
            "sequence": f"SEQUENCE {schema}.{quote(name)}",
            "function": f"FUNCTION {name}",  # regprocedure's text: quoted and qualified as needed
        }[kind]
        statements.append(f"GRANT {what} ON {target} TO {role}")
    return statements
