"""The administration pages (issue 22, items 2 and 3): an admin of every RFC manages people and
API tokens through forms with CSRF and reads the audit log; nobody else can, not even an admin
limited to some RFCs. What the tests look at is what the admin sees on the page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from satdescarga.clock import to_local
from satdescarga.web.accounts.keys import csrf_of as csrf_of_session
from satdescarga.web.auth import SESSION_COOKIE
from satdescarga.web.principal import Role

from .accounts_site import Site
from .conftest import PASSWORD, csrf_of

RFC = "EKU9003173C9"
NEW_PASSWORD = "contraseña-nueva-de-prueba"


@pytest.fixture
def people(people_site: Site) -> Site:
    if "acotada" not in {user.name for user in people_site.accounts.users()}:
        people_site.accounts.add_user("acotada", Role.ADMIN, (RFC,), PASSWORD)
    return people_site


@pytest.fixture
def admin(people: Site) -> Iterator[tuple[httpx.Client, str]]:
    with people.login("admin") as client:
        yield client, csrf_of(client, "/admin/usuarios")


def rows(html: str) -> list[str]:
    """The table's rows as text (tags out, spaces collapsed)."""
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in body.split("<tr>")[1:]]


def alive(client: httpx.Client) -> bool:
    return client.get("/login").status_code == 303


def test_an_admin_adds_a_user_changes_their_password_and_removes_them(
    people: Site, admin: tuple[httpx.Client, str]
) -> None:
    client, csrf = admin
    page = client.get("/admin/usuarios")
    assert page.status_code == 200
    assert any(row.startswith("viewer consulta todos") for row in rows(page.text))
    form = {
        "name": "Auxiliar",
        "role": "viewer",
        "rfcs": f"{RFC.lower()} ABC",
        "password": PASSWORD,
    }
    assert client.post("/admin/usuarios", data=form).status_code == 403  # no CSRF token
    wrong = client.post("/admin/usuarios", data={**form, "csrf_token": csrf})
    assert wrong.status_code == 422
    assert "el RFC &#39;ABC&#39; no es válido: tiene 3 caracteres" in wrong.text
    assert 'value="Auxiliar"' in wrong.text  # what was typed stays in the form
    done = client.post("/admin/usuarios", data={**form, "rfcs": RFC, "csrf_token": csrf})
    assert done.status_code == 303
    page = client.get(done.headers["location"])
    assert "Usuario agregado." in page.text
    assert any(row.startswith(f"auxiliar consulta {RFC}") and "nunca" in row
               for row in rows(page.text))  # fmt: skip

    with people.login("auxiliar") as helper:
        answer = client.post("/admin/usuarios/auxiliar/contrasena",
                             data={"password": NEW_PASSWORD, "csrf_token": csrf})  # fmt: skip
        assert answer.status_code == 303
        assert "Contraseña cambiada" in client.get(answer.headers["location"]).text
        assert not alive(helper)  # their session ended with the old password
    with people.login("auxiliar", NEW_PASSWORD) as helper:
        short = client.post("/admin/usuarios/auxiliar/contrasena",
                            data={"password": "corta", "csrf_token": csrf})  # fmt: skip
        assert short.status_code == 422 and "al menos 12 caracteres" in short.text
        gone = client.post("/admin/usuarios/auxiliar/eliminar", data={"csrf_token": csrf})
        assert gone.status_code == 303
        assert not alive(helper)
    listing = client.get(gone.headers["location"]).text
    assert "Usuario eliminado" in listing and not any(
        r.startswith("auxiliar") for r in rows(listing)
    )
    assert client.post("/admin/usuarios/auxiliar/eliminar",
                       data={"csrf_token": csrf}).status_code == 404  # fmt: skip
    own = client.post("/admin/usuarios/admin/eliminar", data={"csrf_token": csrf})
    assert own.status_code == 409 and "No puede eliminar su propio usuario" in own.text

    audit = rows(client.get("/admin/auditoria").text)
    assert audit[0].endswith("admin eliminó un usuario auxiliar 127.0.0.1"), audit[0]
    assert any("admin cambió una contraseña auxiliar" in row for row in audit)
    assert any("admin agregó un usuario auxiliar 127.0.0.1 rol viewer" in row for row in audit)
    assert any("auxiliar entró" in row for row in audit)


def test_a_token_made_on_its_page_is_shown_once_and_revoked_there(
    people: Site, admin: tuple[httpx.Client, str]
) -> None:
    client, csrf = admin
    made = client.post("/admin/tokens",
                       data={"name": "erp-web", "role": "operator", "rfcs": RFC,
                             "csrf_token": csrf})  # fmt: skip
    assert made.status_code == 200 and "no se volverá a mostrar" in made.text
    secret = re.search(r'<code class="token-secret">(sd_[^<]+)</code>', made.text)
    assert secret is not None
    principal = people.accounts.token(secret.group(1))
    assert principal is not None and principal.role is Role.OPERATOR
    listing = client.get("/admin/tokens").text
    assert secret.group(1) not in listing
    (row,) = [r for r in rows(listing) if " erp-web " in r]
    token_id = row.split()[0]
    assert f"{token_id} erp-web operación {RFC}" in row and "vigente" in row
    assert to_local(people.clock.now).strftime("%Y-%m-%d %H:%M") in row  # its last use
    answer = client.post(f"/admin/tokens/{token_id}/revocar", data={"csrf_token": csrf})
    assert answer.status_code == 303
    listing = client.get(answer.headers["location"]).text
    assert "Token revocado" in listing
    (row,) = [r for r in rows(listing) if " erp-web " in r]
    assert "revocado el" in row and "Revocar" not in row
    assert people.accounts.token(secret.group(1)) is None
    again = client.post(f"/admin/tokens/{token_id}/revocar", data={"csrf_token": csrf})
    assert again.status_code == 404


def test_only_an_admin_of_every_rfc_manages_people(people: Site) -> None:
    people.accounts.add_token("vigente", Role.VIEWER, ())
    live = max(t.id for t in people.accounts.tokens())

    def facts() -> list[object]:
        return [[(u.name, u.role, u.rfcs) for u in people.accounts.users()],
                [(t.id, t.revoked_at) for t in people.accounts.tokens()]]  # fmt: skip

    before = facts()
    for user in ("viewer", "operator", "acotada"):  # acotada: an admin of one RFC
        with people.login(user) as client:
            for page in ("/admin/usuarios", "/admin/tokens", "/admin/auditoria"):
                answer = client.get(page)
                assert answer.status_code == 403 and "Sin permiso" in answer.text, (user, page)
            csrf = {"csrf_token": csrf_of_session(client.cookies[SESSION_COOKIE])}
            forms = {
                "/admin/usuarios": {"name": "intruso", "role": "admin", "password": PASSWORD},
                "/admin/usuarios/admin/contrasena": {"password": "me-quedo-con-admin"},
                "/admin/usuarios/viewer/eliminar": {},
                "/admin/tokens": {"name": "intruso", "role": "admin"},
                f"/admin/tokens/{live}/revocar": {},
            }
            for path, form in forms.items():
                answer = client.post(path, data={**form, **csrf})
                assert answer.status_code == 403, (user, path)
    assert facts() == before
    assert people.accounts.login("admin", PASSWORD, "10.6.0.1") is not None  # unchanged


def test_the_audit_log_pages_and_shows_hostile_text_as_text(
    people: Site, admin: tuple[httpx.Client, str]
) -> None:
    client, _ = admin
    people.accounts.audit(None, "login_fallido", '<script>alert("x")</script>', "10.5.0.1")
    for number in range(100):
        people.accounts.audit("erp-web", "descarga_xml", f"uuid-{number:03}", "10.5.0.2")
    first = client.get("/admin/auditoria").text
    assert len(rows(first)) == 100 and "uuid-099" in rows(first)[0]
    assert "erp-web descargó un XML" in rows(first)[0]
    older = re.search(r'href="(/admin/auditoria\?antes=\d+)"', first)
    assert older is not None
    second = client.get(older.group(1)).text
    assert "desconocido intento de entrada fallido" in rows(second)[0]
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in second
    assert "<script>alert" not in second
