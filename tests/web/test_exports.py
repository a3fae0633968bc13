"""A month exported from `/api/v1/exports/{rfc}` as the operator gets it: XLSX opened with
openpyxl, CSV as Excel reads it (BOM, SAT's labels), a ZIP whose XML are the stored bytes;
the same documents as the API lists; roles and scope; and the ZIP writer streams (chunks as
it goes, its source closed when the reader stops)."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import openpyxl

from satdescarga.packages.export import CFDI_TABLE, METADATA_TABLE
from satdescarga.web.exports import CHUNK, zip_stream

from ..fleet.conftest import EKU
from .conftest import WebFleet

MONTH = {"month": "2025-02", "direction": "recibidos"}


def export(client: httpx.Client, fmt: str, **extra: str) -> httpx.Response:
    return client.get(f"/api/v1/exports/{EKU}", params={**MONTH, "format": fmt, **extra})


def listed(fleet: WebFleet) -> list[dict[str, Any]]:
    """The month's documents as `/api/v1/documents` lists them."""
    with fleet.client("viewer") as api:
        answer = api.get(
            "/api/v1/documents",
            params={
                "rfc": EKU,
                "direction": MONTH["direction"],
                "since": "2025-02-01",
                "until": "2025-03-01",
                "limit": 1000,
            },
        )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    assert items, "EKU received documents in February 2025"
    return items


def test_a_month_as_xlsx_csv_and_zip(web_fleet: WebFleet) -> None:
    documents = listed(web_fleet)
    uuids = {d["uuid"] for d in documents}
    with web_fleet.client("operator") as api:
        xlsx, csv_answer, cfdi = (
            export(api, "xlsx"),
            export(api, "csv"),
            export(api, "csv", table="cfdi"),
        )
        archive = export(api, "zip")
        xml_of = {
            d["uuid"]: api.get(f"/api/v1/documents/{d['uuid']}/xml").content
            for d in documents
            if d["has_xml"]
        }
    assert xlsx.status_code == 200, xlsx.text
    assert xlsx.headers["content-disposition"] == (
        f'attachment; filename="{EKU}-2025-02-recibidos.xlsx"'
    )
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
    sheet = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    assert tuple(sheet[0]) == METADATA_TABLE.titles
    assert {str(row[0]).upper() for row in sheet[1:]} == uuids
    assert all(isinstance(row[6], datetime) for row in sheet[1:])  # FechaEmision: a date cell

    assert csv_answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv_answer.content.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    lines = list(csv.reader(io.StringIO(csv_answer.content.decode("utf-8-sig"))))
    assert tuple(lines[0]) == METADATA_TABLE.titles and b"\r\n" in csv_answer.content
    assert {line[0].upper() for line in lines[1:]} == uuids
    amounts = {d["uuid"]: d["monto"] for d in documents}
    assert all(line[8] == amounts[line[0].upper()] for line in lines[1:])  # exact text
    cfdi_lines = list(csv.reader(io.StringIO(cfdi.content.decode("utf-8-sig"))))
    assert tuple(cfdi_lines[0]) == CFDI_TABLE.titles and len(cfdi_lines) - 1 == len(xml_of)
    assert f'{EKU}-2025-02-recibidos-cfdi.csv"' in cfdi.headers["content-disposition"]

    assert archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        assert opened.testzip() is None
        assert {name.removesuffix(".xml") for name in opened.namelist()} == set(xml_of)
        for uuid, data in xml_of.items():
            assert opened.read(f"{uuid}.xml") == data  # the stored bytes
    audit = web_fleet.context.accounts.audit_log(500)
    assert ("exportacion", EKU, "erp-operator") in {(a.action, a.target, a.actor) for a in audit}


def test_exports_refused_by_role_scope_and_values(web_fleet: WebFleet) -> None:
    with web_fleet.client("viewer") as viewer, web_fleet.client("acotado") as scoped:
        assert export(viewer, "csv").status_code == 403
        hidden = export(scoped, "zip")
        assert hidden.status_code == 404 and EKU not in hidden.text
        assert hidden.json()["error"]["code"] == "no_encontrado"
        for wrong in ({"month": "2025-2"}, {"direction": "todos"}, {"format": "pdf"}):
            answer = scoped.get(
                f"/api/v1/exports/{web_fleet.rfcs[1]}", params={**MONTH, "format": "csv", **wrong}
            )
            assert answer.status_code == 422, (wrong, answer.text)
            assert answer.json()["error"]["code"] == "parametro_invalido"


class Entries(Iterator[tuple[str, bytes]]):
    """`count` XML of `size` incompressible bytes, remembering whether it was closed."""

    def __init__(self, count: int, size: int) -> None:
        self.left, self.size, self.closed = count, size, False

    def __next__(self) -> tuple[str, bytes]:
        if self.left == 0:
            raise StopIteration
        self.left -= 1
        return f"uuid-{self.left:05d}", random.Random(self.left).randbytes(self.size)

    def close(self) -> None:
        self.closed = True


def test_the_zip_is_written_as_it_goes_and_stops_cleanly() -> None:
    moment = datetime(2025, 3, 1, 12, 0)
    source = Entries(300, 1000)
    chunks = list(zip_stream(source, moment))
    assert len(chunks) > 3 and max(len(c) for c in chunks[:-1]) < CHUNK + 2000  # streamed
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as opened:
        assert len(opened.namelist()) == 300 and opened.testzip() is None
        assert opened.getinfo("UUID-00007.xml").date_time == (2025, 3, 1, 12, 0, 0)
    assert source.closed
    early = Entries(300, 1000)
    stream = zip_stream(early, moment)
    next(stream)
    stream.close()  # the client went away: the database cursor is let go
    assert early.closed and early.left > 0


def test_a_zip_of_more_than_65535_entries_has_its_zip64_end() -> None:
    entries = ((f"u{n}", b"<x>%d</x>" % n) for n in range(70_000))
    data = b"".join(zip_stream(entries, datetime(2025, 3, 1)))
    assert b"PK\x06\x06" in data[-200:]  # the ZIP64 end record: 70,000 do not fit 16 bits
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        assert len(opened.infolist()) == 70_000
        assert opened.read("U69999.xml") == b"<x>69999</x>"
