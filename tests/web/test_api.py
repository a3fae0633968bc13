"""`/api/v1` as an ERP uses it (httpx against the served app, a real fleet kept by real steps):
every route's answer and its typed keys, errors as `{"error": {...}}` in Spanish, roles,
scope (out of scope reads as unknown), keyset walks that neither skip nor repeat, the changes
feed's cursor to poll from, the changes an operator or an admin makes (on a fleet of their
own), a folder read-only, and the OpenAPI document with our own docs page."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from satdescarga.drills.served import served
from satdescarga.emulator import Emulator
from satdescarga.emulator.security.ca import TEST_PASSWORD
from satdescarga.fleet.database import engine_for
from satdescarga.readmodel import open_folder
from satdescarga.web.accounts.memory import MemoryAccounts
from satdescarga.web.actions import FleetActions
from satdescarga.web.app import build_app
from satdescarga.web.context import Settings, WebContext
from satdescarga.web.principal import Role

from ..fleet.conftest import EKU, fleet_rfcs
from .conftest import HOSTILE, SINCE, WebFleet, WebFolder, csrf_of, fiel_files

OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")


def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, (answer.status_code, answer.text)
    return answer.json()


def refused(answer: httpx.Response, status: int, code: str) -> str:
    """The error's Spanish message, after checking its status, shape and code."""
    assert answer.status_code == status, (answer.status_code, answer.text)
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    return str(body["error"]["message"])


def walk(client: httpx.Client, path: str, limit: int, **params: str) -> list[dict[str, Any]]:
    """Every item of a keyset listing, page by page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        page = ok(client.get(path, params=query))
        assert len(page["items"]) <= limit
        items += page["items"]
        if not page["items"] or page["next"] is None:  # /changes: an empty page is the end
            return items
        cursor = page["next"]
    raise AssertionError("the walk does not end")


def test_taxpayers_list_search_sort_and_pages(web_fleet: WebFleet) -> None:
    with web_fleet.client("viewer") as api:
        everyone = ok(api.get("/api/v1/taxpayers", params={"per_page": 50}))
        assert everyone["total"] == 20 and len(everyone["items"]) == 20
        assert sum(everyone["by_state"].values()) == 20
        assert [t["rfc"] for t in everyone["items"]] == sorted(web_fleet.rfcs)
        eku = next(t for t in everyone["items"] if t["rfc"] == EKU)
        assert eku["documents"] > 0 and OFFSET.match(eku["fiel_valid_until"]), eku
        hostile = ok(api.get("/api/v1/taxpayers", params={"q": web_fleet.hostile.lower()}))
        assert [t["name"] for t in hostile["items"]] == [HOSTILE]  # JSON text, as given
        second = ok(api.get("/api/v1/taxpayers", params={"per_page": 7, "page": 2}))
        assert [t["rfc"] for t in second["items"]] == sorted(web_fleet.rfcs)[7:14]
        assert second["total"] == 20
        backwards = ok(api.get("/api/v1/taxpayers", params={"sort": "rfc", "desc": "true"}))
        assert [t["rfc"] for t in backwards["items"]] == sorted(web_fleet.rfcs, reverse=True)
        refused(api.get("/api/v1/taxpayers", params={"per_page": 0}), 422, "parametro_invalido")


def test_a_taxpayer_and_what_is_out_of_scope_read_as_unknown(web_fleet: WebFleet) -> None:
    with web_fleet.client("viewer") as api, web_fleet.client("acotado") as scoped:
        eku = ok(api.get(f"/api/v1/taxpayers/{EKU.lower()}"))
        assert eku["rfc"] == EKU and eku["policy"]["since"] == SINCE
        assert eku["serial"] and "password" not in str(eku).lower()
        unknown = api.get("/api/v1/taxpayers/XAXX010101000")
        hidden = scoped.get(f"/api/v1/taxpayers/{EKU}")
        assert refused(unknown, 404, "no_encontrado") == refused(hidden, 404, "no_encontrado")
        mine = ok(scoped.get("/api/v1/taxpayers"))
        assert [t["rfc"] for t in mine["items"]] == [web_fleet.rfcs[1]]
        for path in (f"/reports/{EKU}", f"/taxpayers/{EKU}/months", f"/taxpayers/{EKU}/requests"):
            refused(scoped.get("/api/v1" + path), 404, "no_encontrado")


def test_documents_walk_by_cursor_without_skipping_or_repeating(web_fleet: WebFleet) -> None:
    with web_fleet.client("viewer") as api:
        whole = ok(api.get("/api/v1/documents", params={"rfc": EKU, "limit": 1000}))
        assert whole["next"] is None and len(whole["items"]) > 10
        walked = walk(api, "/api/v1/documents", 7, rfc=EKU)
        assert [d["uuid"] for d in walked] == [d["uuid"] for d in whole["items"]]
        first = walked[0]
        assert isinstance(first["monto"], str) and re.fullmatch(r"-?\d+(\.\d+)?", first["monto"])
        assert OFFSET.match(first["fecha_emision"]), first
        issued = walk(api, "/api/v1/documents", 100, rfc=EKU, direction="emitidos")
        assert issued and {d["direction"] for d in issued} == {"emitidos"}
        cancelled = walk(api, "/api/v1/documents", 100, rfc=EKU, status="cancelado")
        assert {d["estatus"] for d in cancelled} <= {"Cancelado"}
        february = walk(
            api,
            "/api/v1/documents",
            100,
            rfc=EKU,
            since="2025-02-01",
            until="2025-03-01T00:00:00-06:00",
        )
        assert february and all(d["fecha_emision"][:7] == "2025-02" for d in february)
        big = walk(api, "/api/v1/documents", 100, rfc=EKU, min_amount=first["monto"])
        assert first["uuid"] in {d["uuid"] for d in big}
        refused(
            api.get("/api/v1/documents", params={"cursor": "no-es-un-cursor"}),
            400,
            "cursor_invalido",
        )
        feed = ok(api.get("/api/v1/changes", params={"limit": 1}))
        refused(
            api.get("/api/v1/documents", params={"cursor": feed["next"]}), 400, "cursor_invalido"
        )  # a cursor of another listing
        refused(
            api.get("/api/v1/documents", params={"direction": "ambos"}), 422, "parametro_invalido"
        )


def test_a_document_its_xml_and_the_same_for_a_scoped_token(web_fleet: WebFleet) -> None:
    with web_fleet.client("viewer") as api, web_fleet.client("acotado") as scoped:
        row = next(d for d in walk(api, "/api/v1/documents", 100, rfc=EKU) if d["has_xml"])
        uuid = row["uuid"]
        detail = ok(api.get(f"/api/v1/documents/{uuid.lower()}"))
        assert (
            detail["uuid"] == uuid
            and {"rfc": EKU, "direction": row["direction"]} in (detail["holders"])
        )
        assert detail["metadata"]["Uuid"].upper() == uuid and detail["cfdi"] is not None
        xml = api.get(f"/api/v1/documents/{uuid}/xml")
        assert xml.status_code == 200 and xml.headers["content-type"] == "application/xml"
        assert uuid.encode() in xml.content.upper() and xml.content.lstrip().startswith(b"<")
        assert f'filename="{uuid}.xml"' in xml.headers["content-disposition"]
        for path in (f"/documents/{uuid}", f"/documents/{uuid}/xml"):
            message = refused(scoped.get("/api/v1" + path), 404, "no_encontrado")
            assert uuid not in message
        refused(
            api.get("/api/v1/documents/00000000-0000-0000-0000-000000000000"), 404, "no_encontrado"
        )
        scoped_search = ok(scoped.get("/api/v1/documents", params={"uuid": uuid}))
        assert scoped_search["items"] == []


def test_the_changes_feed_gives_everything_once_and_always_a_cursor(web_fleet: WebFleet) -> None:
    with web_fleet.client("viewer") as api:
        items, cursor = [], None
        while True:
            page = ok(
                api.get(
                    "/api/v1/changes", params={"limit": 9, **({"cursor": cursor} if cursor else {})}
                )
            )
            assert isinstance(page["next"], str) and page["next"], page  # always a cursor
            items += page["items"]
            cursor = page["next"]
            if not page["items"]:
                break
        ids = [c["id"] for c in items]
        assert ids == sorted(set(ids)) and len(ids) > 10  # in order, exactly once
        assert {c["rfc"] for c in items} == set(web_fleet.synced)
        assert all(OFFSET.match(c["discovered_at"]) for c in items)
        again = ok(api.get("/api/v1/changes", params={"cursor": cursor}))
        assert again["items"] == [] and again["next"]  # the ERP polls from here next time
    with web_fleet.client("acotado") as scoped:
        assert all(c["rfc"] != EKU for c in walk(scoped, "/api/v1/changes", 500))


def test_report_months_requests_and_alerts(web_fleet: WebFleet) -> None:
    with web_fleet.client("viewer") as api:
        report = ok(api.get(f"/api/v1/reports/{EKU}", params={"month": "2025-02"}))
        assert report["lines"] and {line["month"] for line in report["lines"]} == {"2025-02"}
        assert {line["direction"] for line in report["lines"]} <= {"emitidos", "recibidos"}
        assert sum(line["metadata"] for line in report["lines"]) > 0
        refused(
            api.get(f"/api/v1/reports/{EKU}", params={"month": "2025-13"}),
            422,
            "parametro_invalido",
        )
        months = ok(api.get(f"/api/v1/taxpayers/{EKU}/months"))["months"]
        assert "2025-02" in {m["month"] for m in months}
        assert sum(m["documents"] for m in months) > 0
        requests = ok(api.get(f"/api/v1/taxpayers/{EKU}/requests", params={"limit": 5}))
        assert 0 < len(requests["items"]) <= 5
        assert all(r["direction"] in ("emitidos", "recibidos") for r in requests["items"])
        alerts = ok(api.get("/api/v1/alerts"))["items"]
        assert all(a["message"] and a["kind"] for a in alerts)


def test_roles_decide_who_may_change(web_fleet: WebFleet) -> None:
    with web_fleet.client("viewer") as viewer, web_fleet.client("operator") as operator:
        message = refused(
            viewer.patch(f"/api/v1/taxpayers/{EKU}/policy", json={"every_hours": 1}),
            403,
            "sin_permiso",
        )
        assert "operator" in message
        refused(operator.delete(f"/api/v1/taxpayers/{EKU}"), 403, "sin_permiso")
        refused(operator.put(f"/api/v1/taxpayers/{EKU}/fiel"), 403, "sin_permiso")
        refused(
            viewer.get(
                f"/api/v1/exports/{EKU}",
                params={"month": "2025-02", "direction": "emitidos", "format": "csv"},
            ),
            403,
            "sin_permiso",
        )


def _next_run(fleet: WebFleet, rfc: str) -> datetime | None:
    engine = engine_for(fleet.url)
    try:
        with engine.connect() as db:
            value = db.execute(
                text("SELECT next_run_at FROM taxpayers WHERE rfc = :r"), {"r": rfc}
            ).scalar()
    finally:
        engine.dispose()
    assert value is None or isinstance(value, datetime)
    return value


def test_operators_and_admins_change_the_fleet_by_token_or_session_audited(
    fresh_fleet: WebFleet,
) -> None:
    fleet = fresh_fleet
    new = fleet_rfcs(1)[0]
    files = fiel_files(fleet.fiel_dir, new)
    upload = {"cer": ("a.cer", files.cer), "key": ("a.key", files.key)}
    with fleet.client("operator") as operator, fleet.client("admin") as admin:
        policy = ok(
            operator.patch(
                f"/api/v1/taxpayers/{EKU}/policy",
                json={"every_hours": 2, "directions": ["recibidos"]},
            )
        )
        assert policy["policy"]["every_hours"] == 2 and policy["policy"]["directions"] == [
            "recibidos"
        ]
        assert ok(admin.get(f"/api/v1/taxpayers/{EKU}"))["policy"]["every_hours"] == 2
        refused(
            operator.patch(f"/api/v1/taxpayers/{EKU}/policy", json={"kinds": ["todo"]}),
            422,
            "politica_invalida",
        )
        refused(
            operator.patch(f"/api/v1/taxpayers/{EKU}/policy", json={"color": "rojo"}),
            422,
            "parametro_invalido",
        )
        ok(operator.post(f"/api/v1/taxpayers/{EKU}/sync"), 202)
        assert _next_run(fleet, EKU) is not None
        wrong = admin.post("/api/v1/taxpayers", files=upload, data={"password": "no-es-esta"})
        assert "no-es-esta" not in refused(wrong, 422, "efirma_invalida")
        big = {**upload, "cer": ("a.cer", b"0" * (fleet.context.settings.upload_limit + 1))}
        refused(
            admin.post("/api/v1/taxpayers", files=big, data={"password": TEST_PASSWORD}),
            413,
            "archivo_demasiado_grande",
        )
        fleet.tokens["otro"] = fleet.context.accounts.add_token("erp-otro", Role.ADMIN, (EKU,))
        with fleet.client("otro") as scoped:  # an admin of EKU only adds nobody else
            outside = scoped.post(
                "/api/v1/taxpayers", files=upload, data={"password": TEST_PASSWORD}
            )
            assert new in refused(outside, 403, "fuera_de_alcance")
        added = admin.post(
            "/api/v1/taxpayers", files=upload, data={"password": TEST_PASSWORD, "since": SINCE}
        )
        assert ok(added, 201) == {"rfc": new}
        assert ok(admin.get(f"/api/v1/taxpayers/{new}"))["policy"]["since"] == SINCE
        again = admin.post("/api/v1/taxpayers", files=upload, data={"password": TEST_PASSWORD})
        refused(again, 409, "ya_existe")
        renewed = admin.put(
            f"/api/v1/taxpayers/{new}/fiel", files=upload, data={"password": TEST_PASSWORD}
        )
        assert ok(renewed)["rfc"] == new
        ok(admin.delete(f"/api/v1/taxpayers/{new}"))
        refused(admin.get(f"/api/v1/taxpayers/{new}"), 404, "no_encontrado")
        refused(admin.delete(f"/api/v1/taxpayers/{new}"), 404, "no_encontrado")
    with fleet.login("operator") as session:  # a session changes things with its CSRF token
        csrf = csrf_of(session)
        answer = session.post(f"/api/v1/taxpayers/{EKU}/sync", headers={"X-CSRF-Token": csrf})
        assert ok(answer, 202)["rfc"] == EKU
    audit = fleet.context.accounts.audit_log(50)
    done = [(entry.action, entry.target, entry.actor) for entry in audit]
    for action, target, actor in [
        ("politica", EKU, "erp-operator"),
        ("sincronizar", EKU, "erp-operator"),
        ("alta", new, "erp-admin"),
        ("renovacion", new, "erp-admin"),
        ("baja", new, "erp-admin"),
    ]:
        assert (action, target, actor) in done, done
    assert TEST_PASSWORD not in repr(audit) and "no-es-esta" not in repr(audit)


@pytest.fixture
def own_folder(synced_folder: Path, web_sat: Emulator) -> Iterator[WebFolder]:
    """The synced folder served with a one-time link of its own (`web_folder`'s is used once,
    by the pages' tests)."""
    assert web_sat.app is not None
    accounts = MemoryAccounts(Settings(), web_sat.app.clock.now)
    context = WebContext(read=open_folder(synced_folder), accounts=accounts, actions=None,
                         clock=web_sat.app.clock.now)  # fmt: skip
    with served(build_app(context)) as base:
        yield WebFolder(synced_folder, base, base + accounts.login_path(), context)
    context.read.close()


def test_over_a_folder_the_api_reads_and_changes_nothing(own_folder: WebFolder) -> None:
    with httpx.Client(base_url=own_folder.base) as session:
        assert session.get(own_folder.login_url).status_code == 303
        csrf = csrf_of(session)
        assert [t["rfc"] for t in ok(session.get("/api/v1/taxpayers"))["items"]] == [EKU]
        assert walk(session, "/api/v1/documents", 50, rfc=EKU)
        for method, path in (
            ("POST", f"/taxpayers/{EKU}/sync"),
            ("PATCH", f"/taxpayers/{EKU}/policy"),
        ):
            answer = session.request(method, "/api/v1" + path, json={"every_hours": 1},
                                     headers={"X-CSRF-Token": csrf})  # fmt: skip
            refused(answer, 409, "solo_lectura")
        gone = session.delete(f"/api/v1/taxpayers/{EKU}", headers={"X-CSRF-Token": csrf})
        refused(gone, 403, "sin_permiso")  # the link's session is an operator's
        month = {"month": "2025-02", "direction": "emitidos"}
        csv = session.get(f"/api/v1/exports/{EKU}", params={**month, "format": "csv"})
        assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbfUuid,")
        issued = walk(session, "/api/v1/documents", 50, rfc=EKU, direction="emitidos")
        february = {d["uuid"] for d in issued if d["fecha_emision"].startswith("2025-02")}
        assert february and all(uuid in csv.text for uuid in february)
        archive = session.get(f"/api/v1/exports/{EKU}", params={**month, "format": "zip"})
        with zipfile.ZipFile(io.BytesIO(archive.content)) as names:
            assert {Path(n).stem.upper() for n in names.namelist()} <= {u.upper() for u in february}
            assert names.namelist()


def test_the_openapi_document_is_typed_and_docs_are_ours(web_fleet: WebFleet) -> None:
    with web_fleet.client() as anonymous:
        refused(anonymous.get("/api/v1/openapi.json"), 401, "sin_credenciales")
        refused(anonymous.get("/api/v1/docs"), 401, "sin_credenciales")
    with web_fleet.client("viewer") as api:
        document = ok(api.get("/api/v1/openapi.json"))
        docs = api.get("/api/v1/docs")
    json_routes = 0
    routes = {p: item for p, item in document["paths"].items() if p.startswith("/api/v1/")}
    for path, item in routes.items():
        for method, spec in item.items():
            answer = (
                spec["responses"].get("200")
                or spec["responses"].get("201")
                or spec["responses"].get("202")
            )
            content = answer["content"]
            if "application/json" in content and not path.endswith("/docs"):
                json_routes += 1
                assert "$ref" in content["application/json"]["schema"], (method, path)
    assert json_routes >= 14
    change = document["components"]["schemas"]["ChangeOut"]["properties"]
    assert change["discovered_at"]["format"] == "date-time" and change["monto"]["anyOf"]
    html = docs.text
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "GET /api/v1/documents" in html and "PATCH /api/v1/taxpayers/{rfc}/policy" in html
    assert "swagger" not in html.lower() and not re.search(r"<script\b[^>]*>[^<]+</script>", html)


def test_a_server_without_the_master_key_says_so_and_seals_nothing(fresh_fleet: WebFleet) -> None:
    fleet = fresh_fleet
    context = fleet.context
    keyless = WebContext(
        read=context.read,
        accounts=context.accounts,
        actions=FleetActions(engine_for(fleet.url), None, context.clock, context.accounts.audit),
        settings=context.settings,
        clock=context.clock,
    )
    new = fleet_rfcs(1)[0]
    files = fiel_files(fleet.fiel_dir, new)
    upload = {"cer": ("a.cer", files.cer), "key": ("a.key", files.key)}
    token = {"Authorization": f"Bearer {fleet.tokens['admin']}"}
    with served(build_app(keyless)) as base, httpx.Client(base_url=base, headers=token) as admin:
        for answer in (
            admin.post("/api/v1/taxpayers", files=upload, data={"password": TEST_PASSWORD}),
            admin.put(
                f"/api/v1/taxpayers/{EKU}/fiel", files=upload, data={"password": TEST_PASSWORD}
            ),
        ):
            refused(answer, 503, "sin_llave_maestra")
            assert "--master-key-file" in answer.json()["error"]["message"]
            assert TEST_PASSWORD not in answer.text
        assert admin.get(f"/api/v1/taxpayers/{new}").status_code == 404
