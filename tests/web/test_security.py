"""Security is tested, not assumed (issue 22, item 5): every route, enumerated from the
application's router, is tried without credentials, with a viewer (nothing changes) and with
a token scoped to another RFC (nothing of this RFC by any path, by UUID included); CSRF;
security headers; hostile text from third parties rendered as text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text
from starlette.routing import BaseRoute, Route

from satdescarga.fleet.database import engine_for
from satdescarga.readmodel import DocumentFilters, Scope
from satdescarga.web.app import build_app

from ..fleet.conftest import EKU
from .conftest import PASSWORD, WebFleet, csrf_of

PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/login/enlace"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
}
"""The only routes anyone may call: the login form, the folder's one-time link, health."""
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
QUERIES = {
    "/api/v1/exports/{rfc}": "?month=2025-02&direction=emitidos&format=csv",
    "/api/v1/reports/{rfc}": "?month=2025-02",
}
"""Query parameters a route requires, so that it answers for its data and not for them."""


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str  # the router's path, with its {parameters}

    @property
    def api(self) -> bool:
        return self.template.startswith("/api/")


def _routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, Route]]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI keeps included routers whole
        if inner is not None:
            context = getattr(route, "include_context")  # noqa: B009 (a private attribute)
            yield from _routes(inner.routes, prefix + context.prefix)
        elif isinstance(route, APIRoute | Route):
            yield prefix, route


def endpoints(app: FastAPI) -> Iterator[Endpoint]:
    for prefix, route in _routes(app.routes):
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                yield Endpoint(method, prefix + route.path)


def eku_uuid(fleet: WebFleet) -> str:
    """A document of EKU with its XML (so that `/documents/{uuid}/xml` answers with data)."""
    page = fleet.context.read.documents(Scope.only({EKU}), DocumentFilters(rfc=EKU), 100, None)
    with_xml = [row.uuid for row in page.items if row.has_xml]
    assert with_xml, "EKU has documents with their XML"
    return with_xml[0]


def concrete(endpoint: Endpoint, fleet: WebFleet) -> str:
    """The route's path with EKU's values; a parameter not known here fails the test (a new
    route must say what it takes, so that it is tried too)."""
    values = {"rfc": EKU, "uuid": eku_uuid(fleet), "name": "viewer", "token_id": "1", "id": "1"}

    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        assert name in values, f"{endpoint}: parámetro {name} sin valor de prueba"
        return values[name]

    path = re.sub(r"\{([^}]+)\}", value, endpoint.template)
    return path + QUERIES.get(endpoint.template, "")


def app_endpoints(fleet: WebFleet) -> list[Endpoint]:
    found = [e for e in endpoints(build_app(fleet.context)) if (e.method, e.template) not in PUBLIC]
    assert len(found) > 30, found  # the pages, the API and the admin are all there
    return found


def call(client: httpx.Client, method: str, path: str, csrf: str | None = None) -> httpx.Response:
    if method in UNSAFE and not path.startswith("/api/"):
        return client.request(method, path, data={"csrf_token": csrf} if csrf else {})
    headers = {"X-CSRF-Token": csrf} if csrf and method in UNSAFE else {}
    return client.request(method, path, headers=headers, json={} if method in UNSAFE else None)


TAXPAYER_FACTS = "SELECT rfc, policy, next_run_at, valid_until, serial FROM taxpayers ORDER BY rfc"


USER_FACTS = "SELECT name, role, rfcs, password_hash FROM web_users ORDER BY 1"
TOKEN_FACTS = "SELECT id, name, role, rfcs, secret_hash, revoked_at FROM web_tokens ORDER BY 1"
"""People and tokens, without what reading records (a login's or a token's last use)."""


def fleet_facts(fleet: WebFleet) -> list[object]:
    """What a change would show: taxpayers, policies and schedules, people, tokens."""
    engine = engine_for(fleet.url)
    try:
        with engine.connect() as db:
            return [
                list(db.execute(text(TAXPAYER_FACTS))),
                list(db.execute(text(USER_FACTS))),
                list(db.execute(text(TOKEN_FACTS))),
            ]
    finally:
        engine.dispose()


def test_every_route_asks_for_credentials(web_fleet: WebFleet) -> None:
    with web_fleet.client() as anonymous:
        for endpoint in app_endpoints(web_fleet):
            path = concrete(endpoint, web_fleet)
            answer = call(anonymous, endpoint.method, path)
            if endpoint.api:
                assert answer.status_code == 401, (endpoint, answer.text)
                assert answer.json()["error"]["code"] == "sin_credenciales", endpoint
            else:
                assert answer.status_code == 303, (endpoint, answer.status_code)
                assert answer.headers["location"].startswith("/login"), endpoint
            assert EKU not in answer.text, endpoint


def test_a_wrong_or_revoked_token_is_refused(web_fleet: WebFleet) -> None:
    for header in ("Bearer sd_no-existe", f"Bearer {web_fleet.tokens['viewer']}x", "Bearer"):
        headers = {"Authorization": header}
        with httpx.Client(base_url=web_fleet.base, headers=headers) as client:
            answer = client.get("/api/v1/taxpayers")
            assert answer.status_code == 401, header
            assert EKU not in answer.text


def test_a_viewer_can_read_but_change_nothing(web_fleet: WebFleet) -> None:
    before = fleet_facts(web_fleet)
    with web_fleet.client("viewer") as token, web_fleet.login("viewer") as session:
        csrf = csrf_of(session)
        for endpoint in app_endpoints(web_fleet):
            if endpoint.template == "/logout":  # it ends the session (tests/web/test_auth.py)
                continue
            path = concrete(endpoint, web_fleet)
            client = token if endpoint.api else session
            answer = call(client, endpoint.method, path, csrf)
            if endpoint.method in UNSAFE:
                assert answer.status_code == 403, (endpoint, answer.status_code, answer.text)
            else:
                assert answer.status_code in (200, 403), (endpoint, answer.status_code)
    assert fleet_facts(web_fleet) == before


def test_a_token_scoped_to_another_rfc_sees_nothing_of_this_one(web_fleet: WebFleet) -> None:
    uuid = eku_uuid(web_fleet)
    before = fleet_facts(web_fleet)
    with web_fleet.client("acotado") as token, web_fleet.login("acotado") as session:
        csrf = csrf_of(session)
        for endpoint in app_endpoints(web_fleet):
            if endpoint.template == "/logout":
                continue
            path = concrete(endpoint, web_fleet)
            client = token if endpoint.api else session
            answer = call(client, endpoint.method, path, csrf)
            names_eku = "{rfc}" in endpoint.template or "{uuid}" in endpoint.template
            if names_eku:  # unknown and out of scope read the same
                allowed = (403, 404, 422) if endpoint.method in UNSAFE else (403, 404)
                assert answer.status_code in allowed, (endpoint, answer.status_code)
            assert EKU not in answer.text and uuid not in answer.text, endpoint
            assert uuid.lower() not in answer.text, endpoint
    assert fleet_facts(web_fleet) == before


def test_forms_and_session_calls_without_the_csrf_token_are_refused(web_fleet: WebFleet) -> None:
    with web_fleet.login("operator") as session:
        before = fleet_facts(web_fleet)
        answer = session.post(f"/contribuyentes/{EKU}/sincronizar", data={})
        assert answer.status_code == 403
        answer = session.post(f"/contribuyentes/{EKU}/sincronizar", data={"csrf_token": "x"})
        assert answer.status_code == 403
        answer = session.post(f"/api/v1/taxpayers/{EKU}/sync")
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "csrf"
        assert fleet_facts(web_fleet) == before


def test_every_answer_carries_the_security_headers(web_fleet: WebFleet) -> None:
    with web_fleet.login("admin") as session, web_fleet.client() as anonymous:
        answers = [anonymous.get("/login"), session.get("/"), session.get("/api/v1/taxpayers")]
        answers.append(anonymous.get("/static/htmx.min.js"))
    for answer in answers:
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, answer.url
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert answers[1].headers["cache-control"] == "no-store"


def test_no_page_has_an_inline_script_or_style(web_fleet: WebFleet) -> None:
    uuid = eku_uuid(web_fleet)
    pages = ["/", f"/contribuyentes/{EKU}", "/documentos", f"/documentos/{uuid}", "/alertas"]
    pages += ["/admin/usuarios", "/admin/tokens", "/admin/auditoria", "/contribuyentes/nuevo"]
    with web_fleet.login("admin") as session:
        for page in pages:
            html = session.get(page).text
            assert session.get(page).status_code == 200, page
            for script in re.findall(r"<script\b[^>]*>", html):
                assert "src=" in script, (page, script)
            assert not re.search(r"<script\b[^>]*>[^<]+</script>", html), page
            assert not re.search(r"<[^>]*\son[a-z]+\s*=", html), page  # in a tag, not text
            assert not re.search(r"\sstyle\s*=", html) and "<style" not in html, page


@pytest.mark.parametrize("page", ["/", "/contribuyentes/{hostile}", "/documentos?rfc={hostile}"])
def test_hostile_names_render_as_text(web_fleet: WebFleet, page: str) -> None:
    with web_fleet.login("admin") as session:
        html = session.get(page.format(hostile=web_fleet.hostile)).text
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html


def test_the_login_does_not_tell_who_exists(web_fleet: WebFleet) -> None:
    with web_fleet.client() as anonymous:
        known = anonymous.post("/login", data={"username": "viewer", "password": "mal"})
        unknown = anonymous.post("/login", data={"username": "nadie", "password": "mal"})
        assert known.status_code == unknown.status_code
        assert known.text.replace("viewer", "X") == unknown.text.replace("nadie", "X")
        assert "set-cookie" not in known.headers or "sesion=" not in known.headers["set-cookie"]
    assert PASSWORD not in known.text
