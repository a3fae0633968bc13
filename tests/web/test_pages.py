"""The pages as people read them (httpx against the served app, a real fleet kept by real
steps): the overview's states in words, search, filters, sort and pages; a taxpayer's
reconciliation, chart, changes, requests with SAT's codes in Spanish, and what each role may
do there; the documents' search with keyset pages; a document with its XML as text; alerts;
the forms that change a fleet (on a fleet of their own); a folder read-only."""

from __future__ import annotations

import re
from html import unescape

import httpx

from satdescarga.readmodel import DocumentFilters, MonthCount, Scope
from satdescarga.web.chart import render_svg

from ..fleet.conftest import EKU, fleet_rfcs
from .conftest import HOSTILE, WebFleet, WebFolder, csrf_of, fiel_files


def text_of(html: str) -> str:
    """What a person reads: the page without its tags, entities decoded, spaces collapsed."""
    without = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", without)).split())


def rows(html: str, table: str) -> list[str]:
    """The text of each body row of the table with `class="<table>"`."""
    body = html.split(f'<table class="{table}">', 1)[1].split("</table>", 1)[0]
    body = body.split("<tbody>", 1)[1]
    return [text_of(row) for row in re.findall(r"<tr\b.*?</tr>", body, flags=re.S)]


def test_the_overview_shows_every_taxpayer_with_its_state_in_colour_and_words(
    web_fleet: WebFleet,
) -> None:
    with web_fleet.login("viewer") as session:
        html = session.get("/").text
    lines = rows(html, "taxpayers")
    assert len(lines) == 20
    assert "20 contribuyentes" in text_of(html)
    eku = next(line for line in lines if line.startswith(EKU))
    assert "Al día" in eku, eku  # synced to the end: the state in words
    assert re.search(rf'<tr class="row-ok">\s*<td><a href="/contribuyentes/{EKU}"', html)
    new = next(line for line in lines if line.startswith(web_fleet.rfcs[-1]))
    assert "Nuevo" in new, new  # never looked at yet
    assert '<span class="state ok">Al día</span>' in html  # colour class AND words
    assert HOSTILE not in html and "&lt;script&gt;" in html  # the hostile name, as text
    assert "Agregar contribuyente" not in html  # a viewer adds nobody


def test_the_overview_searches_filters_sorts_and_pages(web_fleet: WebFleet) -> None:
    with web_fleet.login("viewer") as session:
        found = session.get("/", params={"q": EKU.lower()}).text
        assert [line.split()[0] for line in rows(found, "taxpayers")] == [EKU]
        current = session.get("/", params={"estado": "al_dia"}).text
        assert sorted(line.split()[0] for line in rows(current, "taxpayers")) == sorted(
            web_fleet.synced
        )
        new = session.get("/", params={"estado": "nuevo", "orden": "rfc", "desc": "1"}).text
        listed = [line.split()[0] for line in rows(new, "taxpayers")]
        assert listed == sorted(web_fleet.rfcs[3:], reverse=True)
        first = session.get("/", params={"por_pagina": "25", "pagina": "1"}).text
        paged = session.get("/", params={"por_pagina": "7", "pagina": "3"}).text
        assert "página 3 de 3" in text_of(paged)
        assert len(rows(paged, "taxpayers")) == 6
        assert 'rel="prev"' in paged and 'rel="next"' not in paged
        assert len(rows(first, "taxpayers")) == 20
        nothing = session.get("/", params={"q": "no-existe-nadie"}).text
        assert "Ningún contribuyente coincide" in nothing


def test_htmx_gets_only_the_table_and_a_restore_gets_the_page(web_fleet: WebFleet) -> None:
    with web_fleet.login("viewer") as session:
        fragment = session.get("/", params={"q": EKU}, headers={"HX-Request": "true"})
        restore = session.get("/", headers={"HX-Request": "true",
                                            "HX-History-Restore-Request": "true"})  # fmt: skip
    assert fragment.status_code == 200 and "HX-Request" in fragment.headers["vary"]
    assert "<html" not in fragment.text and "<table" in fragment.text
    assert [line.split()[0] for line in rows(fragment.text, "taxpayers")] == [EKU]
    assert "<html" in restore.text


def test_a_taxpayers_page_tells_its_months_chart_changes_and_requests(web_fleet: WebFleet) -> None:
    with web_fleet.login("operator") as session:
        html = session.get(f"/contribuyentes/{EKU}").text
        chart = session.get(f"/contribuyentes/{EKU}/grafica.svg")
    report = rows(html, "report")
    assert any(line.startswith("2025-02 emitidos") for line in report), report
    assert any(line.startswith("2025-02 recibidos") for line in report), report
    assert f'src="/contribuyentes/{EKU}/grafica.svg"' in html
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.text.startswith("<svg") and "2025" in chart.text
    assert re.search(r'<rect class="documentos"[^>]*height="[1-9]', chart.text)
    requests = rows(html, "requests")
    assert requests and all("finished" not in line for line in requests)  # Spanish words
    assert any(" 3 Terminada " in line for line in requests), requests  # SAT's code explained
    changes = rows(html, "changes")
    assert changes and all(" Apareció " in line or " Cancelado " in line for line in changes)
    # an operator: sync now, policy, exports of each month; no renew or remove (admin)
    assert "Sincronizar ahora" in html and "Guardar política" in html
    assert f"/api/v1/exports/{EKU}?month=2025-02&amp;direction=emitidos&amp;format=xlsx" in html
    assert "Renovar" not in html and "Eliminar de la flota" not in html


def test_each_role_sees_only_what_it_may_do(web_fleet: WebFleet) -> None:
    with web_fleet.login("viewer") as viewer, web_fleet.login("admin") as admin:
        seen = viewer.get(f"/contribuyentes/{EKU}").text
        managed = admin.get(f"/contribuyentes/{EKU}").text
        assert viewer.get("/contribuyentes/nuevo").status_code == 403
        upload = admin.get("/contribuyentes/nuevo").text
    assert "Sincronizar ahora" not in seen and "/api/v1/exports/" not in seen
    assert "<form" not in seen.split("</header>", 1)[1]  # nothing to submit but the logout
    assert "Renovar la e.firma" in managed and "Eliminar de la flota" in managed
    assert 'enctype="multipart/form-data"' in upload and 'name="cer"' in upload


def test_the_chart_escapes_what_it_is_given() -> None:
    months = [MonthCount("2025-01", 10, 2), MonthCount("2025-02", 40, 0)]
    svg = render_svg('<x onload="y">', months)
    assert "<x " not in svg and "&lt;x onload=" in svg
    assert "feb 2025: 40 documentos" in svg and "ene 2025: 2 cancelados" in svg
    assert len(re.findall(r'<rect class="(?:documentos|cancelaciones)"', svg)) == 4
    assert "Aún no hay documentos" in render_svg("X", [])


def test_documents_are_searched_and_paged_by_keyset(web_fleet: WebFleet) -> None:
    scope = Scope.only({EKU})
    every = web_fleet.context.read.documents(scope, DocumentFilters(rfc=EKU), 10_000, None)
    uuids = {row.uuid for row in every.items}
    assert len(uuids) > 50  # more than one page
    seen: list[str] = []
    with web_fleet.login("viewer") as session:
        link: str | None = f"/documentos?rfc={EKU.lower()}"
        while link:
            html = session.get(link).text
            seen += re.findall(r'<a class="uuid" href="/documentos/([0-9A-F-]+)">', html)
            found = re.search(r'<a rel="next" href="([^"]+)">', html)
            link = unescape(found.group(1)) if found else None
        assert len(seen) == len(set(seen)) and set(seen) == uuids  # never skips or repeats
        one = next(iter(uuids))
        exact = session.get("/documentos", params={"uuid": one.lower()}).text
        assert re.findall(r'<a class="uuid" href="/documentos/([0-9A-F-]+)">', exact) == [one]
        wrong = session.get("/documentos", params={"desde": "ayer", "monto_min": "mucho",
                                                   "cursor": "no-es-un-cursor"})  # fmt: skip
    assert wrong.status_code == 422
    message = text_of(wrong.text)
    assert "desde: use una fecha AAAA-MM-DD" in message and "monto mínimo" in message
    assert "el cursor no es válido" in message


def test_a_document_shows_its_metadata_summary_and_xml_as_text(web_fleet: WebFleet) -> None:
    scope = Scope.only({web_fleet.hostile})
    page = web_fleet.context.read.documents(scope, DocumentFilters(rfc=web_fleet.hostile), 50, None)
    row = next(r for r in page.items if r.has_xml)
    with web_fleet.login("viewer") as session:
        html = session.get(f"/documentos/{row.uuid.lower()}").text
        assert session.get("/documentos/00000000-0000-0000-0000-000000000000").status_code == 404
    assert "Metadata del SAT" in html and "Resumen del CFDI" in html
    assert f'href="/api/v1/documents/{row.uuid}/xml"' in html
    xml = html.split('<pre class="xml">', 1)[1].split("</pre>", 1)[0]
    assert "&lt;cfdi:Comprobante" in xml and "<cfdi:" not in xml and row.uuid in xml.upper()


def test_alerts_are_listed(web_fleet: WebFleet) -> None:
    with web_fleet.login("viewer") as session:
        answer = session.get("/alertas")
    assert answer.status_code == 200
    alerts = rows(answer.text, "alerts")
    expected = web_fleet.context.read.alerts(Scope.everything(), web_fleet.context.clock())
    assert len(alerts) == max(len(expected), 1)


def test_the_forms_change_a_fleet(fresh_fleet: WebFleet) -> None:
    with fresh_fleet.login("operator") as operator, fresh_fleet.login("admin") as admin:
        csrf = csrf_of(operator)
        policy = {"csrf_token": csrf, "directions": ["recibidos"], "kinds": ["metadata"],
                  "since": "2025-01-01", "every_hours": "12", "max_active": "2"}  # fmt: skip
        saved = operator.post(f"/contribuyentes/{EKU}/politica", data=policy)
        assert saved.status_code == 303, saved.text
        page = operator.get(saved.headers["location"]).text
        assert "Se guardó la política." in page
        assert 'name="directions" value="emitidos">' in page  # unchecked now
        assert 'name="directions" value="recibidos" checked>' in page
        assert 'name="every_hours" min="0.1" step="any" value="12.0"' in page
        synced = operator.post(f"/contribuyentes/{EKU}/sincronizar", data={"csrf_token": csrf})
        assert synced.status_code == 303
        assert "Se revisará en cuanto" in operator.get(synced.headers["location"]).text
        admin_csrf = csrf_of(admin)
        rfc = fleet_rfcs(1)[0]
        files = fiel_files(fresh_fleet.fiel_dir, rfc)
        form = {"csrf_token": admin_csrf, "password": files.password}
        big = {"cer": ("a.cer", b"0" * 70_000), "key": ("a.key", files.key)}
        too_big = admin.post("/contribuyentes", data=form, files=big)
        assert too_big.status_code == 413 and "a lo más" in text_of(too_big.text)
        fiel = {"cer": ("a.cer", files.cer), "key": ("a.key", files.key)}
        added = admin.post("/contribuyentes", data=form, files=fiel)
        assert added.status_code == 303, added.text
        assert added.headers["location"].startswith(f"/contribuyentes/{rfc}")
        assert files.password not in added.text
        assert rfc in text_of(admin.get("/").text)
        refused = admin.post(f"/contribuyentes/{rfc}/eliminar",
                             data={"csrf_token": admin_csrf, "confirmar": "otro"})  # fmt: skip
        assert refused.status_code == 422 and "escriba su RFC" in text_of(refused.text)
        removed = admin.post(f"/contribuyentes/{rfc}/eliminar",
                             data={"csrf_token": admin_csrf, "confirmar": rfc.lower()})  # fmt: skip
        assert removed.status_code == 303
        assert "Se eliminó" in admin.get(removed.headers["location"]).text
        assert admin.get(f"/contribuyentes/{rfc}").status_code == 404


def test_a_folder_is_read_only(web_folder: WebFolder) -> None:
    with httpx.Client(follow_redirects=False) as browser:
        entered = browser.get(web_folder.login_url)
        assert entered.status_code == 303
        base = web_folder.base
        overview = browser.get(base + "/").text
        assert EKU in text_of(overview) and "Agregar contribuyente" not in overview
        page = browser.get(f"{base}/contribuyentes/{EKU}").text
        assert "2025-02" in text_of(page) and "Sincronizar ahora" not in page
        assert "solo lectura" in text_of(page)
        csrf = csrf_of(browser, base + "/")
        refused = browser.post(f"{base}/contribuyentes/{EKU}/sincronizar",
                               data={"csrf_token": csrf})  # fmt: skip
        assert refused.status_code == 409 and "solo lectura" in text_of(refused.text)
        assert browser.get(base + "/contribuyentes/nuevo").status_code == 404
        assert browser.get(f"{base}/documentos?rfc={EKU}").status_code == 200
