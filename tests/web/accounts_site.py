"""A fleet database with people only (no taxpayers), served with a clock the test moves: what
the login, session, throttling and administration tests need, and nothing they would share
with the other web tests (failed logins from 127.0.0.1 would throttle everyone's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from satdescarga.drills.served import served
from satdescarga.drills.throwaway import ThrowawayPostgres
from satdescarga.fleet.database import engine_for
from satdescarga.readmodel import open_fleet
from satdescarga.web.accounts.postgres import PostgresAccounts
from satdescarga.web.app import build_app
from satdescarga.web.context import Settings, WebContext
from satdescarga.web.principal import Role

from .conftest import PASSWORD, new_database


@dataclass
class Clock:
    now: datetime = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Site:
    url: str
    base: str
    clock: Clock
    accounts: PostgresAccounts
    context: WebContext
    users: dict[str, Role] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, follow_redirects=False)

    def login(self, user: str, password: str = PASSWORD) -> httpx.Client:
        with self.client() as first:
            answer = first.post("/login", data={"username": user, "password": password})
            assert answer.status_code == 303, answer.text
        return httpx.Client(base_url=self.base, follow_redirects=False, cookies=first.cookies)

    def forget_failures(self) -> None:
        """Move past the throttling window (what a test that fails logins leaves behind)."""
        self.clock.advance(seconds=self.context.settings.login_window.total_seconds() + 1)


@contextmanager
def site(postgres: ThrowawayPostgres, settings: Settings | None = None) -> Iterator[Site]:
    url = new_database(postgres, "cuentas")
    clock = Clock()
    settings = settings or Settings(login_failures=3)
    engine = engine_for(url)
    accounts = PostgresAccounts(engine, settings, clock)
    context = WebContext(read=open_fleet(url), accounts=accounts, actions=None,
                         settings=settings, clock=clock)  # fmt: skip
    built = Site(url, "", clock, accounts, context)
    for role in Role:
        accounts.add_user(role.value, role, (), PASSWORD)
        built.users[role.value] = role
    try:
        with served(build_app(context)) as base:
            built.base = base
            yield built
    finally:
        context.read.close()
        engine.dispose()
