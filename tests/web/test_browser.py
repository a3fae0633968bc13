"""The pages in a real browser: Playwright driving Debian's chromium (never a downloaded one)
against the served app. A person logs in, reads the overview of 20 taxpayers, filters it
(htmx), opens a taxpayer with its chart, exports a month to Excel (opened with openpyxl), adds
a taxpayer through the upload form (and removes it) and logs out; a hostile name shows as
text and runs nothing; no page breaks the Content-Security-Policy. Screenshots of the main
pages go to $SATDESCARGA_SCREENSHOTS (docs/screenshots in the repository) or to a temporary
folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, expect, sync_playwright

from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import engine_for
from satdescarga.readmodel import DocumentFilters, Scope
from satdescarga.vocabulary import DownloadType

from ..fleet.conftest import EKU, fleet_rfcs
from .conftest import HOSTILE, PASSWORD, WebFleet, fiel_files

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
TIMEOUT = 10_000  # ms


def chromium_path() -> str | None:
    found = shutil.which("chromium")
    return found or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        if os.environ.get("SATDESCARGA_REQUIRE_BROWSER"):
            pytest.fail("SATDESCARGA_REQUIRE_BROWSER está puesto y no hay chromium")
        pytest.skip("no hay chromium en este equipo (apt install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("SATDESCARGA_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Watched:
    """A page and what it must never do: open a dialog, break the CSP, throw."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def clean(self) -> None:
        assert self.dialogs == [] and self.violations == [] and self.errors == []


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1360, "height": 900},
                                  locale="es-MX")  # fmt: skip
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    seen = Watched(page)

    def on_dialog(dialog: Dialog) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            seen.violations.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    yield seen
    context.close()


def log_in(page: Page, base: str, user: str) -> None:
    page.goto(base + "/")
    assert "/login" in page.url  # no session: the login form
    page.fill('input[name="username"]', user)
    page.fill('input[name="password"]', PASSWORD)
    page.locator('input[name="password"]').press("Enter")
    page.wait_for_url(base + "/")


def log_out(page: Page, base: str) -> None:
    page.click("form.logout button")
    page.wait_for_url(f"{base}/login**")
    page.goto(base + "/")
    assert "/login" in page.url  # the session is gone


def test_an_operator_reads_filters_exports_and_leaves(
    web_fleet: WebFleet, watched: Watched, shots: Path, tmp_path: Path
) -> None:
    page, base = watched.page, web_fleet.base
    log_in(page, base, "operator")
    table = page.locator("table.taxpayers tbody tr")
    assert table.count() == 20
    assert page.locator("#total").inner_text().startswith("20 contribuyentes")
    page.screenshot(path=shots / "overview.png", full_page=True)
    page.fill("#buscar", EKU[:6].lower())  # htmx swaps the table as one types
    expect(page.locator("table.taxpayers tbody tr")).to_have_count(1)
    assert page.locator("table.taxpayers tbody tr td a").inner_text() == EKU
    assert "q=" in page.url  # the filter is in the address: a link people can share
    expect(page.locator("#contribuyentes")).not_to_have_attribute("aria-busy", "true")
    page.click(f"text={EKU}")
    page.wait_for_url(f"{base}/contribuyentes/{EKU}")
    chart = page.locator("img.chart")
    chart.scroll_into_view_if_needed()
    width = chart.evaluate("img => img.decode().then(() => img.naturalWidth)")
    assert width == 720  # the SVG loaded and drew
    page.screenshot(path=shots / "taxpayer.png", full_page=True)
    with page.expect_download() as download:
        page.click('[data-export="2025-02-emitidos-xlsx"]')
    assert download.value.suggested_filename.endswith(".xlsx")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    book = openpyxl.load_workbook(saved, read_only=True)
    cells = {str(c) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
             for c in row if c is not None}  # fmt: skip
    book.close()
    issued = web_fleet.context.read.documents(
        Scope.only({EKU}),
        DocumentFilters(rfc=EKU, direction=DownloadType.ISSUED),
        500,
        None,
    )
    february = [d.uuid for d in issued.items if d.fecha_emision and d.fecha_emision.month == 2]
    assert february and any(uuid in cells or uuid.lower() in cells for uuid in february)
    page.goto(f"{base}/documentos?rfc={EKU}")
    assert page.locator("table.documents tbody tr").count() == 50
    page.screenshot(path=shots / "documents.png")
    first = web_fleet.context.read.documents(Scope.only({EKU}), DocumentFilters(rfc=EKU), 50, None)
    with_xml = next(d.uuid for d in first.items if d.has_xml)
    page.click(f'table.documents a.uuid[href="/documentos/{with_xml}"]')
    page.wait_for_url(f"{base}/documentos/{with_xml}")
    assert page.locator("pre.xml").inner_text().startswith("<cfdi:Comprobante")
    page.screenshot(path=shots / "document.png")
    page.goto(f"{base}/alertas")
    assert page.locator("h1").inner_text() == "Alertas"
    page.screenshot(path=shots / "alerts.png", full_page=True)
    log_out(page, base)
    watched.clean()


def test_a_hostile_name_is_text_and_runs_nothing(web_fleet: WebFleet, watched: Watched) -> None:
    page, base = watched.page, web_fleet.base
    log_in(page, base, "viewer")
    page.fill("#buscar", web_fleet.hostile)
    expect(page.locator("table.taxpayers tbody tr")).to_have_count(1)
    assert page.locator("table.taxpayers tbody tr td").nth(1).inner_text() == HOSTILE
    page.goto(f"{base}/contribuyentes/{web_fleet.hostile}")
    assert HOSTILE in page.locator("h1").inner_text()
    page.goto(f"{base}/documentos?rfc={web_fleet.hostile}")
    scope = Scope.only({web_fleet.hostile})
    listed = web_fleet.context.read.documents(scope, DocumentFilters(), 50, None).items
    names = {n for d in listed for n in (d.nombre_emisor, d.nombre_receptor) if n and "<" in n}
    shown = page.locator("table.documents").inner_text()
    assert listed and all(name in shown for name in names)  # a CFDI's hostile Nombre as text
    assert page.locator("img[src=x]").count() == 0 and page.locator("main script").count() == 0
    watched.clean()


def test_an_admin_adds_and_removes_a_taxpayer_through_the_forms(
    web_fleet: WebFleet, watched: Watched
) -> None:
    """On the shared fleet: what is added is removed (by the page, or after a failure)."""
    page, base = watched.page, web_fleet.base
    rfc = fleet_rfcs(len(web_fleet.rfcs) + 1)[-1]  # not in the fleet
    files = fiel_files(web_fleet.fiel_dir, rfc)
    engine = engine_for(web_fleet.url)
    try:
        log_in(page, base, "admin")
        page.click("text=Agregar contribuyente")
        page.wait_for_url(f"{base}/contribuyentes/nuevo")
        page.set_input_files('input[name="cer"]', str(web_fleet.fiel_dir / f"{rfc}.cer"))
        page.set_input_files('input[name="key"]', str(web_fleet.fiel_dir / f"{rfc}.key"))
        page.fill('input[name="password"]', files.password)
        page.fill('input[name="since"]', "2025-02-01")
        page.click("form.upload button")
        page.wait_for_url(f"{base}/contribuyentes/{rfc}?hecho=alta")
        assert "Se agregó el contribuyente" in page.locator("p.done").inner_text()
        assert files.password not in page.content()
        page.goto(base + "/")
        assert page.locator("table.taxpayers tbody tr").count() == 21
        page.goto(f"{base}/contribuyentes/{rfc}")
        page.fill('form.remove input[name="confirmar"]', rfc)
        page.click("form.remove button")
        page.wait_for_url(f"{base}/?hecho=baja")
        assert page.locator("table.taxpayers tbody tr").count() == 20
        log_out(page, base)
        watched.clean()
    finally:
        if rfc in {t.rfc for t in taxpayers.listed(engine)}:
            taxpayers.remove(engine, rfc, wait=False)
        engine.dispose()
