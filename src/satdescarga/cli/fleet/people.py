"""`fleet user add|list|remove|password` and `fleet token add|list|revoke`: who may use
`satdescarga serve` over the fleet. Passwords come from files only and are stored as argon2id
hashes; a token is printed once (JSON key `token`) and stored as its SHA-256. Every change is
written to the audit log (actor "consola")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from satdescarga.cli.common import Output, common_options, handle_errors
from satdescarga.cli.fleet.group import _db, fleet, fleet_engine

if TYPE_CHECKING:
    from satdescarga.web.accounts.postgres import PostgresAccounts

ACTOR = "consola"
_ROLES = click.Choice(["admin", "operator", "viewer"], case_sensitive=False)


def _role(func: Callable[..., object]) -> Callable[..., object]:
    return click.option(
        "--role",
        type=_ROLES,
        required=True,
        help="viewer consulta; operator además cambia políticas, sincroniza y exporta; admin "
        "además agrega contribuyentes, usuarios y tokens.",
    )(func)


def _rfc(func: Callable[..., object]) -> Callable[..., object]:
    return click.option(
        "--rfc",
        "rfcs",
        multiple=True,
        help="Solo este contribuyente (repetible); sin --rfc, todos.",
    )(func)


def _password_file(func: Callable[..., object]) -> Callable[..., object]:
    return click.option(
        "--password-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        required=True,
        help="Archivo con la contraseña (12 caracteres o más).",
    )(func)


@contextmanager
def _accounts(db: str) -> Iterator[PostgresAccounts]:
    from satdescarga.clock import wall_clock
    from satdescarga.web.accounts.postgres import PostgresAccounts
    from satdescarga.web.context import Settings

    engine = fleet_engine(db)
    try:
        yield PostgresAccounts(engine, Settings(), wall_clock)
    finally:
        engine.dispose()


def _scope(rfcs: tuple[str, ...] | list[str]) -> str:
    return ", ".join(rfcs) if rfcs else "todos los contribuyentes"


@fleet.group()
def user() -> None:
    """Las personas que entran a `satdescarga serve` (usuario y contraseña)."""


@user.command("add")
@_db
@click.argument("name")
@_role
@_rfc
@_password_file
@common_options
@handle_errors
def user_add(db: str, name: str, role: str, rfcs: tuple[str, ...], password_file: Path,
             as_json: bool, debug: bool) -> None:  # fmt: skip
    """Agrega a NAME con un rol y, si se indica, solo algunos RFC."""
    from satdescarga.cli.password import read_password_file
    from satdescarga.web.accounts.passwords import check_name
    from satdescarga.web.accounts.scopes import check_rfcs, parse_role

    chosen, name, rfcs = parse_role(role), check_name(name), check_rfcs(rfcs)
    password = read_password_file(password_file)
    with _accounts(db) as accounts:
        accounts.add_user(name, chosen, rfcs, password)
        accounts.audit(ACTOR, "usuario_alta", name, None, f"rol {chosen.value}")
    Output(as_json).result(
        "user_added",
        {"name": name, "role": chosen.value, "rfcs": list(rfcs)},
        f"Usuario {name} agregado ({chosen.value}; {_scope(rfcs)}).",
    )


@user.command("list")
@_db
@common_options
@handle_errors
def user_list(db: str, as_json: bool, debug: bool) -> None:
    """Lista los usuarios, su rol, sus RFC y su última entrada."""
    with _accounts(db) as accounts:
        people = accounts.users()
    data = [
        {"name": p.name, "role": p.role.value, "rfcs": list(p.rfcs), "created_at": p.created_at,
         "last_login_at": p.last_login_at}
        for p in people
    ]  # fmt: skip
    human = "\n".join(
        f"{p.name}  {p.role.value}  {_scope(p.rfcs)}  última entrada: "
        f"{p.last_login_at:%Y-%m-%d %H:%M} UTC" if p.last_login_at else
        f"{p.name}  {p.role.value}  {_scope(p.rfcs)}  nunca ha entrado"
        for p in people
    )  # fmt: skip
    Output(as_json).result("users", {"users": data}, human or "No hay usuarios.")


@user.command("remove")
@_db
@click.argument("name")
@common_options
@handle_errors
def user_remove(db: str, name: str, as_json: bool, debug: bool) -> None:
    """Elimina a NAME; sus sesiones terminan."""
    name = name.strip().lower()
    with _accounts(db) as accounts:
        accounts.remove_user(name)
        accounts.audit(ACTOR, "usuario_baja", name)
    Output(as_json).result(
        "user_removed", {"name": name}, f"Usuario {name} eliminado; sus sesiones terminaron."
    )


@user.command("password")
@_db
@click.argument("name")
@_password_file
@common_options
@handle_errors
def user_password(db: str, name: str, password_file: Path, as_json: bool, debug: bool) -> None:
    """Cambia la contraseña de NAME; sus sesiones terminan."""
    from satdescarga.cli.password import read_password_file

    name = name.strip().lower()
    password = read_password_file(password_file)
    with _accounts(db) as accounts:
        accounts.set_password(name, password)
        accounts.audit(ACTOR, "contrasena", name)
    Output(as_json).result(
        "password_changed",
        {"name": name},
        f"Contraseña de {name} cambiada; sus sesiones terminaron.",
    )


@fleet.group()
def token() -> None:
    """Tokens de la API (/api/v1) para otros sistemas: Authorization: Bearer <token>."""


@token.command("add")
@_db
@click.argument("name")
@_role
@_rfc
@common_options
@handle_errors
def token_add(db: str, name: str, role: str, rfcs: tuple[str, ...], as_json: bool,
              debug: bool) -> None:  # fmt: skip
    """Crea un token para NAME y lo escribe una sola vez (se guarda solo su huella)."""
    from satdescarga.web.accounts.passwords import check_name
    from satdescarga.web.accounts.scopes import check_rfcs, parse_role

    chosen, name, rfcs = parse_role(role), check_name(name), check_rfcs(rfcs)
    with _accounts(db) as accounts:
        secret = accounts.add_token(name, chosen, rfcs)
        made = max((t for t in accounts.tokens() if t.name == name), key=lambda t: t.id)
        accounts.audit(ACTOR, "token_alta", name, None, f"rol {chosen.value}")
    Output(as_json).result(
        "token_added",
        {"id": made.id, "name": name, "role": chosen.value, "rfcs": list(rfcs), "token": secret},
        f"Token {made.id} ({name}; {chosen.value}; {_scope(rfcs)}). Cópielo ahora, no se "
        f"volverá a mostrar:\n{secret}",
    )


@token.command("list")
@_db
@common_options
@handle_errors
def token_list(db: str, as_json: bool, debug: bool) -> None:
    """Lista los tokens (sin su secreto): rol, RFC, último uso, si están revocados."""
    with _accounts(db) as accounts:
        found = accounts.tokens()
    data = [
        {"id": t.id, "name": t.name, "role": t.role.value, "rfcs": list(t.rfcs),
         "created_at": t.created_at, "last_used_at": t.last_used_at, "revoked_at": t.revoked_at}
        for t in found
    ]  # fmt: skip
    human = "\n".join(
        f"{t.id}  {t.name}  {t.role.value}  {_scope(t.rfcs)}  "
        + (f"revocado {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "vigente")
        + (f", último uso {t.last_used_at:%Y-%m-%d %H:%M} UTC" if t.last_used_at else
           ", sin uso")
        for t in found
    )  # fmt: skip
    Output(as_json).result("tokens", {"tokens": data}, human or "No hay tokens.")


@token.command("revoke")
@_db
@click.argument("token_id", metavar="ID", type=int)
@common_options
@handle_errors
def token_revoke(db: str, token_id: int, as_json: bool, debug: bool) -> None:
    """Revoca el token número ID (`fleet token list`): deja de dar acceso en ese momento."""
    with _accounts(db) as accounts:
        named = {t.id: t.name for t in accounts.tokens()}
        accounts.revoke_token(token_id)
        accounts.audit(ACTOR, "token_revocado", named.get(token_id), None, f"token {token_id}")
    Output(as_json).result(
        "token_revoked",
        {"id": token_id, "name": named.get(token_id)},
        f"Token {token_id} revocado: ya no da acceso.",
    )
