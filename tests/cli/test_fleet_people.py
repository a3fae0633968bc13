"""`fleet user ...` and `fleet token ...` (issue 22, item 2): who may use `satdescarga serve`,
from the command line, against a real PostgreSQL; and, from a `pg_dump` of that database, the
proof that passwords, tokens and session ids are stored hashed only (item 5)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from satdescarga.cli import main
from satdescarga.drills.throwaway import ThrowawayPostgres
from satdescarga.readmodel import Scope
from satdescarga.web.accounts.keys import digest
from satdescarga.web.accounts.postgres import PostgresAccounts
from satdescarga.web.principal import Role

from ..web.accounts_site import Site

PASSWORD = "contraseña-de-la-consola-1"
RFC = "EKU9003173C9"


@pytest.fixture
def db(people_site: Site) -> str:
    """The web's people database: what the command line changes, `serve` sees."""
    return people_site.url


@pytest.fixture
def accounts(people_site: Site) -> PostgresAccounts:
    return people_site.accounts


def fleet(db: str, *args: str) -> Result:
    env = {"SATDESCARGA_DB": db, "SATDESCARGA_PASSWORD": None}
    return CliRunner().invoke(main, ["fleet", *args], env=env)


def answer(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    event: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return event


def refused(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr


def password_file(tmp_path: Path, text: str, name: str = "clave.txt") -> str:
    path = tmp_path / name
    path.write_text(text + "\n", encoding="utf-8")  # as `echo` writes it
    return str(path)


def test_people_are_added_listed_changed_and_removed(
    db: str, accounts: PostgresAccounts, tmp_path: Path
) -> None:
    first = password_file(tmp_path, PASSWORD)
    added = answer(fleet(db, "user", "add", "Contadora", "--role", "operator",
                         "--rfc", RFC.lower(), "--password-file", first, "--json"))  # fmt: skip
    assert added == {"event": "user_added", "name": "contadora", "role": "operator",
                     "rfcs": [RFC]}  # fmt: skip
    human = fleet(db, "user", "list")
    assert "contadora  operator  EKU9003173C9  nunca ha entrado" in human.stdout
    session = accounts.login("contadora", PASSWORD, "10.3.0.1")
    assert session is not None
    principal = accounts.session(session.id)
    assert principal is not None and principal.role is Role.OPERATOR
    assert principal.scope == Scope.only({RFC})
    listed = answer(fleet(db, "user", "list", "--json"))["users"]
    assert [(u["name"], u["role"], u["rfcs"], u["last_login_at"] is not None)
            for u in listed if u["name"] == "contadora"] == [
        ("contadora", "operator", [RFC], True)
    ]  # fmt: skip

    second = password_file(tmp_path, "otra-contraseña-larga", "nueva.txt")
    changed = fleet(db, "user", "password", "contadora", "--password-file", second)
    assert changed.exit_code == 0 and "sesiones terminaron" in changed.stdout
    assert accounts.session(session.id) is None
    assert accounts.login("contadora", "otra-contraseña-larga", "10.3.0.1") is not None

    refused(fleet(db, "user", "add", "contadora", "--role", "viewer", "--password-file",
                  first), "ya existe el usuario contadora")  # fmt: skip
    refused(fleet(db, "user", "add", "otra", "--role", "viewer", "--rfc", "EKU900317",
                  "--password-file", first), "el RFC 'EKU900317' no es válido")  # fmt: skip
    short = password_file(tmp_path, "corta", "corta.txt")
    refused(fleet(db, "user", "add", "otra", "--role", "viewer", "--password-file", short),
            "al menos 12 caracteres")  # fmt: skip
    removed = answer(fleet(db, "user", "remove", "contadora", "--json"))
    assert removed == {"event": "user_removed", "name": "contadora"}
    refused(fleet(db, "user", "remove", "contadora"), "no existe el usuario contadora")
    names = [u["name"] for u in answer(fleet(db, "user", "list", "--json"))["users"]]
    assert "contadora" not in names and "admin" in names
    audit = [(e.actor, e.action, e.target) for e in accounts.audit_log(20)]
    assert ("consola", "usuario_alta", "contadora") in audit
    assert ("consola", "contrasena", "contadora") in audit
    assert ("consola", "usuario_baja", "contadora") in audit


def test_a_token_is_printed_once_and_works_until_revoked(
    db: str, accounts: PostgresAccounts
) -> None:
    made = answer(fleet(db, "token", "add", "erp-norte", "--role", "viewer", "--rfc", RFC,
                        "--json"))  # fmt: skip
    secret = made["token"]
    assert secret.startswith("sd_") and made["rfcs"] == [RFC] and made["role"] == "viewer"
    principal = accounts.token(secret)
    assert principal is not None and principal.scope == Scope.only({RFC})
    listed = fleet(db, "token", "list", "--json")
    assert secret not in listed.stdout
    (row,) = [t for t in answer(listed)["tokens"] if t["id"] == made["id"]]
    assert row["name"] == "erp-norte" and row["last_used_at"] is not None
    assert row["revoked_at"] is None
    human = fleet(db, "token", "add", "erp-sur", "--role", "admin")
    assert human.exit_code == 0 and "no se volverá a mostrar" in human.stdout
    assert human.stdout.strip().splitlines()[-1].startswith("sd_")
    revoked = answer(fleet(db, "token", "revoke", str(made["id"]), "--json"))
    assert revoked == {"event": "token_revoked", "id": made["id"], "name": "erp-norte"}
    assert accounts.token(secret) is None
    refused(fleet(db, "token", "revoke", str(made["id"])), "no hay un token vigente")
    assert "revocado" in fleet(db, "token", "list").stdout


def test_passwords_tokens_and_sessions_are_stored_hashed_only(
    db: str, accounts: PostgresAccounts, postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    secret_password = "la-contraseña-que-nadie-debe-leer"
    file = password_file(tmp_path, secret_password)
    assert fleet(db, "user", "add", "auditada", "--role", "admin", "--password-file",
                 file).exit_code == 0  # fmt: skip
    token = answer(fleet(db, "token", "add", "erp-dump", "--role", "admin", "--json"))["token"]
    session = accounts.login("auditada", secret_password, "10.4.0.1")
    assert session is not None and accounts.token(token) is not None
    assert accounts.login("auditada", secret_password + "x", "10.4.0.1") is None
    dumped = subprocess.run([str(postgres.bin / "pg_dump"), "--data-only", db],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "auditada" in dumped and "$argon2id$v=19$m=19456,t=2,p=1$" in dumped
    assert digest(token) in dumped and digest(session.id) in dumped
    for secret in (secret_password, token, token.removeprefix("sd_"), session.id, session.csrf):
        assert secret not in dumped
