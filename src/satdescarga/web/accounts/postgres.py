"""`PostgresAccounts`: the fleet's people (tables of revision 0005, `fleet/schema.py`).

Sessions live in `web_sessions` under the SHA-256 of their id, expire after
`settings.session_idle` without use and `settings.session_absolute` after login, and end at
logout, at a change of password and when their user is removed. API tokens live in
`web_tokens` under their SHA-256; their last use is recorded (to the minute). A user's role
and RFCs are read at every request: a change applies at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from satdescarga.fleet.schema import web_audit, web_sessions, web_tokens, web_users
from satdescarga.web.accounts import AuditEntry, NewSession, TokenRow, UserRow, throttle
from satdescarga.web.accounts.errors import AccountError
from satdescarga.web.accounts.keys import (
    TOKEN_PREFIX,
    csrf_of,
    digest,
    new_session_id,
    new_token,
)
from satdescarga.web.accounts.passwords import (
    check_name,
    hash_password,
    needs_rehash,
    normalize_name,
    verify,
    verify_nobody,
)
from satdescarga.web.accounts.scopes import check_rfcs, scope_of
from satdescarga.web.context import Settings
from satdescarga.web.principal import Principal, Role

TOUCH = timedelta(minutes=1)
"""A session's or token's last use is written again only when older than this."""


class PostgresAccounts:
    def __init__(self, engine: Engine, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.engine, self.settings, self.clock = engine, settings, clock

    def __repr__(self) -> str:
        return "PostgresAccounts()"

    @property
    def people(self) -> bool:
        return True

    # --- sign in and out

    def login(self, username: str, password: str, address: str) -> NewSession | None:
        name, now = normalize_name(username)[:200], self.clock()
        with self.engine.begin() as db:
            throttle.check(db, self.settings, now, name, address)
            row = db.execute(
                select(web_users.c.password_hash).where(web_users.c.name == name)
            ).first()
        if row is None:
            verify_nobody(password)
        if row is None or not verify(row.password_hash, password):
            with self.engine.begin() as db:
                throttle.record(db, now, name, address)
            self.audit(None, "login_fallido", name if row else None, address,
                       None if row else "usuario desconocido")  # fmt: skip
            return None
        session_id = new_session_id()
        with self.engine.begin() as db:
            throttle.clear(db, name)
            values: dict[str, object] = {"last_login_at": now}
            if needs_rehash(row.password_hash):
                values["password_hash"] = hash_password(password)
            db.execute(update(web_users).where(web_users.c.name == name).values(values))
            db.execute(insert(web_sessions).values(
                id_hash=digest(session_id), user_name=name, created_at=now, last_seen_at=now,
                address=address))  # fmt: skip
        self.audit(name, "login", None, address)
        return NewSession(session_id, csrf_of(session_id))

    def redeem_link(self, secret: str) -> NewSession | None:
        """A fleet has no one-time links: people log in with their password."""
        return None

    def session(self, session_id: str) -> Principal | None:
        now, key = self.clock(), digest(session_id)
        with self.engine.connect() as db:
            row = db.execute(
                select(web_sessions.c.created_at, web_sessions.c.last_seen_at, web_users.c.name,
                       web_users.c.role, web_users.c.rfcs)
                .join(web_users, web_users.c.name == web_sessions.c.user_name)
                .where(web_sessions.c.id_hash == key)
            ).first()  # fmt: skip
            if row is None:
                return None
            if (now - row.last_seen_at >= self.settings.session_idle
                    or now - row.created_at >= self.settings.session_absolute):  # fmt: skip
                db.execute(delete(web_sessions).where(web_sessions.c.id_hash == key))
                db.commit()
                return None
            if now - row.last_seen_at >= TOUCH:
                db.execute(update(web_sessions).where(web_sessions.c.id_hash == key)
                           .values(last_seen_at=now))  # fmt: skip
                db.commit()
        return Principal(row.name, Role(row.role), scope_of(row.rfcs), "session",
                         session_id, csrf_of(session_id))  # fmt: skip

    def logout(self, session_id: str) -> None:
        with self.engine.begin() as db:
            gone = db.execute(
                delete(web_sessions)
                .where(web_sessions.c.id_hash == digest(session_id))
                .returning(web_sessions.c.user_name)
            ).first()
        if gone is not None:
            self.audit(gone.user_name, "logout")

    def token(self, secret: str) -> Principal | None:
        if not secret.startswith(TOKEN_PREFIX):
            return None
        now = self.clock()
        with self.engine.connect() as db:
            row = db.execute(
                select(web_tokens.c.id, web_tokens.c.name, web_tokens.c.role, web_tokens.c.rfcs,
                       web_tokens.c.last_used_at)
                .where(web_tokens.c.secret_hash == digest(secret),
                       web_tokens.c.revoked_at.is_(None))
            ).first()  # fmt: skip
            if row is None:
                return None
            if row.last_used_at is None or now - row.last_used_at >= TOUCH:
                db.execute(update(web_tokens).where(web_tokens.c.id == row.id)
                           .values(last_used_at=now))  # fmt: skip
                db.commit()
        return Principal(row.name, Role(row.role), scope_of(row.rfcs), "token")

    # --- the audit log

    def audit(self, actor: str | None, action: str, target: str | None = None,
              address: str | None = None, detail: str | None = None) -> None:  # fmt: skip
        with self.engine.begin() as db:
            db.execute(insert(web_audit).values(at=self.clock(), actor=actor, action=action,
                       target=target, address=address, detail=detail))  # fmt: skip

    def audit_log(self, limit: int, before: int | None = None) -> list[AuditEntry]:
        query = select(web_audit).order_by(web_audit.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(web_audit.c.id < before)
        with self.engine.connect() as db:
            return [AuditEntry(r.id, r.at, r.actor, r.action, r.target, r.address, r.detail)
                    for r in db.execute(query)]  # fmt: skip

    # --- people

    def users(self) -> list[UserRow]:
        query = select(web_users).order_by(web_users.c.name)
        with self.engine.connect() as db:
            return [UserRow(r.name, Role(r.role), tuple(r.rfcs), r.created_at, r.last_login_at)
                    for r in db.execute(query)]  # fmt: skip

    def add_user(self, name: str, role: Role, rfcs: tuple[str, ...], password: str) -> None:
        name, rfcs = check_name(name), check_rfcs(rfcs)
        exists = AccountError(f"ya existe el usuario {name}")
        with self.engine.connect() as db:
            if db.execute(select(web_users.c.name).where(web_users.c.name == name)).first():
                raise exists
        password_hash, now = hash_password(password), self.clock()
        try:
            with self.engine.begin() as db:
                db.execute(insert(web_users).values(
                    name=name, role=role.value, rfcs=list(rfcs), password_hash=password_hash,
                    created_at=now, password_changed_at=now))  # fmt: skip
        except IntegrityError:  # added meanwhile by someone else
            raise exists from None

    def remove_user(self, name: str) -> None:
        """The user and every session of theirs."""
        with self.engine.begin() as db:
            gone = db.execute(delete(web_users).where(web_users.c.name == normalize_name(name)))
        if gone.rowcount == 0:
            raise AccountError(f"no existe el usuario {normalize_name(name)}")

    def set_password(self, name: str, password: str) -> None:
        """The new password; every session of the user ends."""
        name, password_hash = normalize_name(name), hash_password(password)
        with self.engine.begin() as db:
            changed = db.execute(update(web_users).where(web_users.c.name == name).values(
                password_hash=password_hash, password_changed_at=self.clock()))  # fmt: skip
            if changed.rowcount == 0:
                raise AccountError(f"no existe el usuario {name}")
            db.execute(delete(web_sessions).where(web_sessions.c.user_name == name))

    # --- API tokens

    def tokens(self) -> list[TokenRow]:
        query = select(web_tokens).order_by(web_tokens.c.id)
        with self.engine.connect() as db:
            return [TokenRow(r.id, r.name, Role(r.role), tuple(r.rfcs), r.created_at,
                             r.last_used_at, r.revoked_at) for r in db.execute(query)]  # fmt: skip

    def add_token(self, name: str, role: Role, rfcs: tuple[str, ...]) -> str:
        name, rfcs = check_name(name), check_rfcs(rfcs)
        secret = new_token()
        with self.engine.begin() as db:
            taken = db.execute(select(web_tokens.c.id).where(
                web_tokens.c.name == name, web_tokens.c.revoked_at.is_(None))).first()  # fmt: skip
            if taken:
                raise AccountError(f"ya hay un token vigente llamado {name}")
            db.execute(insert(web_tokens).values(
                name=name, role=role.value, rfcs=list(rfcs), secret_hash=digest(secret),
                created_at=self.clock()))  # fmt: skip
        return secret

    def revoke_token(self, token_id: int) -> None:
        with self.engine.begin() as db:
            changed = db.execute(update(web_tokens).where(
                web_tokens.c.id == token_id, web_tokens.c.revoked_at.is_(None)
            ).values(revoked_at=self.clock()))  # fmt: skip
        if changed.rowcount == 0:
            raise AccountError(f"no hay un token vigente con el número {token_id}")
