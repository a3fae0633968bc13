"""The web's tests: one fleet for the whole session, in the session's PostgreSQL, kept by real
steps against the emulator (20 taxpayers: three with their documents, one of them named with
hostile HTML, the rest new), its people and tokens, served by uvicorn on loopback; and one
taxpayer's folder made by a real `sync`. Tests that change things make their own fleet
(`fresh_fleet`) or restore what they change."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from satdescarga.drills.served import served
from satdescarga.drills.throwaway import ThrowawayPostgres
from satdescarga.emulator import Emulator
from satdescarga.emulator.security.ca import TEST_PASSWORD, issue_fiel
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import engine_for, init, reader_for
from satdescarga.fleet.limits import Limits, SharedLimits
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.step import StepResult, Worker, run_step
from satdescarga.fleet.vault import FielFiles, MasterKey
from satdescarga.readmodel import open_fleet, open_folder
from satdescarga.web.accounts.memory import MemoryAccounts
from satdescarga.web.accounts.postgres import PostgresAccounts
from satdescarga.web.actions import FleetActions
from satdescarga.web.app import build_app
from satdescarga.web.context import Settings, WebContext
from satdescarga.web.principal import Role

from ..fleet.conftest import EKU, fleet_rfcs, sat_test_fiel

START = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)
SINCE = "2025-02-01"
PASSWORD = "una-contraseña-larga-de-prueba"
HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(1)> & Cía"
"""A taxpayer's name as a third party could write it: the page must show it as text (at most
64 characters: a certificate's name is no longer)."""
_databases = itertools.count()


@dataclass
class WebFleet:
    """A fleet served over HTTP, and who may use it."""

    url: str  # the fleet's database (libpq URL)
    base: str  # http://127.0.0.1:PORT
    sat: Emulator
    key: MasterKey
    context: WebContext
    rfcs: list[str]  # all 20, EKU first
    synced: list[str]  # the three with documents
    hostile: str  # the RFC of the taxpayer named HOSTILE
    fiel_dir: Path  # <RFC>.cer, <RFC>.key, <RFC>-password.txt of each test e.firma
    tokens: dict[str, str] = field(default_factory=dict)  # name -> secret
    users: dict[str, Role] = field(default_factory=dict)  # name -> role (password PASSWORD)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, follow_redirects=False)

    def login(self, user: str) -> httpx.Client:
        """A client with a session of `user` (its CSRF token in `client.headers['X-CSRF-Token']`
        is set by the caller when needed: `csrf_of(client)`)."""
        with httpx.Client(base_url=self.base, follow_redirects=False) as first:
            answer = first.post("/login", data={"username": user, "password": PASSWORD})
            assert answer.status_code == 303, answer.text
        # a client not yet used, so that the caller may open it (`with fleet.login(...)`)
        return httpx.Client(base_url=self.base, follow_redirects=False, cookies=first.cookies)


def new_database(postgres: ThrowawayPostgres, prefix: str) -> str:
    name = f"{prefix}_{next(_databases)}"
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = postgres.url.rsplit("/", 1)[0] + f"/{name}"
    init(url)
    return url


def make_worker(url: str, key: MasterKey, sat: Emulator, spool: Path) -> Worker:
    assert sat.app is not None
    engine = engine_for(url)
    return Worker(
        engine=engine,
        reader=reader_for(url),
        vault=key,
        limits=SharedLimits(engine, Limits(rate=1000.0)),
        spool=spool,
        endpoint_base=sat.base_url,
        clock=sat.app.clock.now,
    )


def fiel_files(folder: Path, rfc: str, name: str | None = None) -> FielFiles:
    if not (folder / f"{rfc}.cer").exists():
        issue_fiel(rfc, folder, name=name, password=TEST_PASSWORD)
    return FielFiles(
        (folder / f"{rfc}.cer").read_bytes(), (folder / f"{rfc}.key").read_bytes(), TEST_PASSWORD
    )


def fleet_context(url: str, key: MasterKey, sat: Emulator) -> WebContext:
    assert sat.app is not None
    clock = sat.app.clock.now
    settings = Settings()
    engine = engine_for(url)
    accounts = PostgresAccounts(engine, settings, clock)
    return WebContext(
        read=open_fleet(url),
        accounts=accounts,
        actions=FleetActions(engine, key, clock, accounts.audit),
        settings=settings,
        clock=clock,
    )


@pytest.fixture(scope="session")
def web_sat() -> Iterator[Emulator]:
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=3, seed=7) as sat:  # fmt: skip
        yield sat


@pytest.fixture(scope="session")
def web_fleet(
    postgres: ThrowawayPostgres, web_sat: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebFleet]:
    url = new_database(postgres, "web")
    key = MasterKey.parse(MasterKey.generate())
    folder = tmp_path_factory.mktemp("fiel")
    worker = make_worker(url, key, web_sat, tmp_path_factory.mktemp("spool"))
    rfcs = [EKU, *fleet_rfcs(19)]
    hostile = rfcs[2]
    eku = sat_test_fiel()
    for name in ("cer", "key"):
        (folder / f"{EKU}.{name}").write_bytes(getattr(eku, name))
    for rfc in rfcs:
        files = eku if rfc == EKU else fiel_files(folder, rfc, HOSTILE if rfc == hostile else None)
        taxpayers.add(worker.engine, key, files, Policy(since=SINCE), now=START)
    synced = rfcs[:3]
    for rfc in synced:
        for _ in range(4):
            if run_step(worker, rfc) is StepResult.CURRENT:
                break
        else:
            raise AssertionError(taxpayers.get(worker.engine, rfc))
    context = fleet_context(url, key, web_sat)
    fleet = WebFleet(url, "", web_sat, key, context, rfcs, synced, hostile, folder)
    accounts = context.accounts
    add_people(fleet)
    # scoped to one taxpayer that is not EKU: nothing of EKU may reach them
    accounts.add_user("acotado", Role.ADMIN, (rfcs[1],), PASSWORD)
    fleet.users["acotado"] = Role.ADMIN
    fleet.tokens["acotado"] = accounts.add_token("erp-acotado", Role.ADMIN, (rfcs[1],))
    with served(build_app(context)) as base:
        fleet.base = base
        yield fleet
    context.read.close()


def add_people(fleet: WebFleet) -> None:
    """admin, operator, viewer (password PASSWORD) and a token of each role, named by role."""
    for role in Role:
        fleet.context.accounts.add_user(role.value, role, (), PASSWORD)
        fleet.users[role.value] = role
        fleet.tokens[role.value] = fleet.context.accounts.add_token(f"erp-{role.value}", role, ())


@pytest.fixture
def fresh_fleet(
    postgres: ThrowawayPostgres, web_sat: Emulator, tmp_path: Path
) -> Iterator[WebFleet]:
    """A fleet of its own, served, with EKU only (no steps run) and the three roles: for tests
    that change things."""
    url = new_database(postgres, "webfresh")
    key = MasterKey.parse(MasterKey.generate())
    context = fleet_context(url, key, web_sat)
    taxpayers.add(engine_for(url), key, sat_test_fiel(), Policy(since=SINCE), now=START)
    fleet = WebFleet(url, "", web_sat, key, context, [EKU], [], "", tmp_path)
    add_people(fleet)
    with served(build_app(context)) as base:
        fleet.base = base
        yield fleet
    context.read.close()


@dataclass
class WebFolder:
    out: Path
    base: str
    login_url: str  # the one-time link `serve --out` prints
    context: WebContext


@pytest.fixture(scope="session")
def web_folder(synced_folder: Path, web_sat: Emulator) -> Iterator[WebFolder]:
    assert web_sat.app is not None
    settings = Settings()
    accounts = MemoryAccounts(settings, web_sat.app.clock.now)
    context = WebContext(
        read=open_folder(synced_folder),
        accounts=accounts,
        actions=None,
        settings=settings,
        clock=web_sat.app.clock.now,
    )
    with served(build_app(context)) as base:
        yield WebFolder(synced_folder, base, base + accounts.login_path(), context)
    context.read.close()


def csrf_of(client: httpx.Client, page: str = "/") -> str:
    """The CSRF token a page gives its session (meta csrf-token)."""
    html = client.get(page).text
    marker = '<meta name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
