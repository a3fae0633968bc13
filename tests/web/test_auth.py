"""Logging in and out (issue 22, item 2): server-side sessions with idle and absolute expiry,
a cookie the page's scripts cannot read, logout that ends the session on the server, no user
enumeration, throttling per user and per address (HTTP 429), API tokens, a folder's one-time
link. Against a real PostgreSQL and the app served by uvicorn."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from satdescarga.drills.served import served
from satdescarga.fleet.schema import web_sessions
from satdescarga.readmodel import Scope, open_fleet
from satdescarga.web.accounts import LoginThrottled
from satdescarga.web.accounts.errors import AccountError
from satdescarga.web.accounts.keys import digest
from satdescarga.web.accounts.memory import MemoryAccounts
from satdescarga.web.app import build_app
from satdescarga.web.auth import SESSION_COOKIE
from satdescarga.web.context import Settings, WebContext
from satdescarga.web.login import safe_next
from satdescarga.web.principal import Role

from .accounts_site import Clock, Site
from .conftest import PASSWORD, csrf_of

RFC = "EKU9003173C9"


@pytest.fixture
def people(people_site: Site) -> Site:
    return people_site


@pytest.fixture(autouse=True)
def forgotten(people: Site) -> Iterator[None]:
    """Each test starts with no recent failed logins (none throttles the next test)."""
    yield
    people.forget_failures()


def logged_in(client: httpx.Client) -> bool:
    """Whether the client's session is alive: the login form sends a live session on."""
    return client.get("/login").status_code == 303


def test_login_gives_a_cookie_scripts_cannot_read_and_logout_ends_it(people: Site) -> None:
    with people.client() as client:
        answer = client.post(
            "/login",
            data={"username": " Admin ", "password": PASSWORD, "next": "/admin/tokens"},
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/tokens"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        stolen = client.cookies[SESSION_COOKIE]
        assert logged_in(client)
        csrf = csrf_of(client, "/admin/usuarios")
        assert client.post("/logout").status_code == 403  # no CSRF token: nothing happens
        assert logged_in(client)
        answer = client.post("/logout", data={"csrf_token": csrf})
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
    with people.client() as replay:  # the old cookie, kept by someone: dead on the server
        replay.cookies.set(SESSION_COOKIE, stolen)
        assert not logged_in(replay)
        assert replay.get("/admin/usuarios").headers["location"].startswith("/login")
    actions = [(e.actor, e.action) for e in people.accounts.audit_log(5)]
    assert actions[:2] == [("admin", "logout"), ("admin", "login")]


def test_behind_a_tls_proxy_the_cookie_is_secure(people: Site) -> None:
    context = WebContext(read=open_fleet(people.url), accounts=people.accounts, actions=None,
                         settings=Settings(behind_proxy=True), clock=people.clock)  # fmt: skip
    try:
        with served(build_app(context)) as base, httpx.Client(base_url=base) as client:
            answer = client.post("/login", data={"username": "viewer", "password": PASSWORD})
            assert answer.status_code == 303
            assert "Secure" in answer.headers["set-cookie"]
            assert answer.headers["strict-transport-security"].startswith("max-age=")
    finally:
        context.read.close()


def test_after_login_only_a_path_of_this_site(people: Site) -> None:
    with people.client() as client:
        data = {"username": "viewer", "password": PASSWORD, "next": "https://otro.example/x"}
        assert client.post("/login", data=data).headers["location"] == "/"
    assert safe_next("/admin/auditoria?antes=5") == "/admin/auditoria?antes=5"
    for elsewhere in ("https://otro.example/x", "//otro.example/x", "/\\otro.example", "/login",
                      "javascript:alert(1)", "", None):  # fmt: skip
        assert safe_next(elsewhere) == "/", elsewhere


def test_a_wrong_password_and_an_unknown_user_answer_alike(people: Site) -> None:
    times: dict[str, list[timedelta]] = {"operator": [], "fulano": []}
    pages: dict[str, str] = {}
    with people.client() as client:
        for _ in range(2):
            for name, taken in times.items():
                answer = client.post("/login", data={"username": name, "password": "x" * 14})
                assert answer.status_code == 401
                assert "Usuario o contraseña incorrectos." in answer.text
                assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
                pages[name] = answer.text.replace(name, "N")
                taken.append(answer.elapsed)
            people.forget_failures()
    assert pages["operator"] == pages["fulano"]
    # argon2 runs for an unknown name too: without it, "unknown" would answer ~50x faster
    assert min(times["fulano"]) > 0.5 * min(times["operator"]), times


def test_repeated_failures_are_throttled_per_user_and_per_address(people: Site) -> None:
    accounts, limit = people.accounts, people.context.settings.login_failures
    for attempt in range(limit):  # one user, from many addresses
        assert accounts.login("viewer", "mala-contraseña", f"10.0.0.{attempt}") is None
    with pytest.raises(LoginThrottled) as throttled:  # the right password waits too
        accounts.login("viewer", PASSWORD, "10.0.1.1")
    assert 0 < throttled.value.seconds <= people.context.settings.login_window.total_seconds()
    assert accounts.login("operator", PASSWORD, "10.0.1.1") is not None  # others may enter

    with people.client() as client:  # one address (this test's), many names
        for attempt in range(limit):
            data = {"username": f"nadie{attempt}", "password": "mala-contraseña"}
            assert client.post("/login", data=data).status_code == 401
        answer = client.post("/login", data={"username": "admin", "password": PASSWORD})
        assert answer.status_code == 429
        assert (
            0
            < int(answer.headers["retry-after"])
            <= people.context.settings.login_window.total_seconds()
        )
        assert "Demasiados intentos fallidos" in answer.text
        assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
        people.forget_failures()  # the window passed
        assert client.post("/login", data={"username": "admin", "password": PASSWORD}
                           ).status_code == 303  # fmt: skip
    assert accounts.login("viewer", PASSWORD, "10.0.1.1") is not None


def test_sessions_expire_when_idle_and_after_the_absolute_limit(people: Site) -> None:
    accounts, clock = people.accounts, people.clock
    idle, absolute = people.context.settings.session_idle, people.context.settings.session_absolute
    session = accounts.login("operator", PASSWORD, "10.1.0.1")
    assert session is not None
    seen = accounts.session(session.id)
    assert seen is not None and seen.name == "operator" and seen.role is Role.OPERATOR
    assert seen.csrf == session.csrf and seen.scope == Scope.everything()
    assert session.id not in repr(seen) and session.csrf not in repr(seen)
    clock.advance(seconds=(idle - timedelta(minutes=2)).total_seconds())
    assert accounts.session(session.id) is not None  # used: its idle time starts again
    clock.advance(seconds=(idle - timedelta(minutes=2)).total_seconds())
    assert accounts.session(session.id) is not None
    clock.advance(seconds=idle.total_seconds())
    assert accounts.session(session.id) is None  # idle too long
    assert accounts.session(session.id) is None

    session = accounts.login("operator", PASSWORD, "10.1.0.1")
    assert session is not None
    started = clock.now
    while clock.now - started < absolute - idle / 2:
        clock.advance(seconds=(idle / 2).total_seconds())
        assert accounts.session(session.id) is not None
    clock.advance(seconds=(idle / 2).total_seconds())
    assert accounts.session(session.id) is None  # in use all along, but 12 h have passed

    forgotten = accounts.login("operator", PASSWORD, "10.1.0.1")
    assert forgotten is not None and stored(people, forgotten.id)
    clock.advance(seconds=idle.total_seconds())
    assert accounts.login("viewer", PASSWORD, "10.1.0.2") is not None  # a login prunes
    assert not stored(people, forgotten.id)  # an expired session never used again is gone


def stored(people: Site, session_id: str) -> bool:
    with people.accounts.engine.connect() as db:
        query = select(web_sessions.c.id_hash).where(web_sessions.c.id_hash == digest(session_id))
        return db.execute(query).first() is not None


def test_a_new_password_or_a_removed_user_ends_their_sessions(people: Site) -> None:
    accounts = people.accounts
    accounts.add_user("temporal", Role.VIEWER, (RFC.lower(),), PASSWORD)
    first = accounts.login("temporal", PASSWORD, "10.2.0.1")
    assert first is not None
    principal = accounts.session(first.id)
    assert principal is not None and principal.scope == Scope.only({RFC})
    accounts.set_password("temporal", "otra-contraseña-larga")
    assert accounts.session(first.id) is None
    assert accounts.login("temporal", PASSWORD, "10.2.0.1") is None
    second = accounts.login("temporal", "otra-contraseña-larga", "10.2.0.1")
    assert second is not None
    accounts.remove_user("temporal")
    assert accounts.session(second.id) is None
    with pytest.raises(AccountError, match="no existe el usuario temporal"):
        accounts.remove_user("temporal")


@pytest.mark.parametrize(
    ("name", "role", "rfcs", "password", "message"),
    [
        ("nuevo", Role.VIEWER, (), "corta", "al menos 12 caracteres"),
        ("con espacio", Role.VIEWER, (), PASSWORD, "el nombre debe tener"),
        ("nuevo", Role.VIEWER, ("EKU9003173", ), PASSWORD, "tiene 10 caracteres"),
        ("admin", Role.VIEWER, (), PASSWORD, "ya existe el usuario admin"),
    ],
)  # fmt: skip
def test_a_user_that_cannot_be_is_refused_in_spanish(
    people: Site, name: str, role: Role, rfcs: tuple[str, ...], password: str, message: str
) -> None:
    with pytest.raises(AccountError, match=message):
        people.accounts.add_user(name, role, rfcs, password)
    assert "nuevo" not in {user.name for user in people.accounts.users()}


def test_api_tokens_work_until_revoked_and_record_their_last_use(people: Site) -> None:
    accounts = people.accounts
    secret = accounts.add_token("erp-prueba", Role.OPERATOR, (RFC,))
    assert secret.startswith("sd_") and len(secret) > 40
    with pytest.raises(AccountError, match="ya hay un token vigente"):
        accounts.add_token("erp-prueba", Role.VIEWER, ())
    row = next(t for t in accounts.tokens() if t.name == "erp-prueba")
    assert row.last_used_at is None and row.rfcs == (RFC,)
    principal = accounts.token(secret)
    assert principal is not None and principal.via == "token" and principal.csrf is None
    assert principal.role is Role.OPERATOR and principal.scope == Scope.only({RFC})
    row = next(t for t in accounts.tokens() if t.id == row.id)
    assert row.last_used_at == people.clock.now
    assert accounts.token(secret[:-1]) is None and accounts.token("Bearer " + secret) is None
    accounts.revoke_token(row.id)
    assert accounts.token(secret) is None
    with pytest.raises(AccountError, match=f"no hay un token vigente con el número {row.id}"):
        accounts.revoke_token(row.id)


def test_a_folder_is_entered_once_by_its_link(people: Site) -> None:
    clock = Clock()
    accounts = MemoryAccounts(Settings(), clock)
    context = WebContext(read=open_fleet(people.url), accounts=accounts, actions=None,
                         clock=clock)  # fmt: skip
    link = accounts.login_path()
    assert link.startswith("/login/enlace?t=")
    try:
        with served(build_app(context)) as base:
            with httpx.Client(base_url=base) as stranger:
                assert stranger.get("/login/enlace?t=sd_otro").status_code == 403
                answer = stranger.post("/login", data={"username": "local", "password": "x"})
                assert answer.status_code == 401
                assert "enlace de un solo uso" in stranger.get("/login").text
            with httpx.Client(base_url=base) as owner:
                answer = owner.get(link)
                assert answer.status_code == 303 and answer.headers["location"] == "/"
                assert "HttpOnly" in answer.headers["set-cookie"]
                principal = accounts.session(owner.cookies[SESSION_COOKIE])
                assert principal is not None and principal.name == "local"
                assert principal.role is Role.OPERATOR and principal.scope == Scope.everything()
                assert owner.get("/admin/usuarios").status_code == 404  # no people here
            with httpx.Client(base_url=base) as second:
                answer = second.get(link)
                assert answer.status_code == 403 and "ya se" in answer.text
    finally:
        context.read.close()
    with pytest.raises(AccountError):
        accounts.add_user("alguien", Role.ADMIN, (), PASSWORD)
