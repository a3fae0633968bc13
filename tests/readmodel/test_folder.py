"""The folder's read model over a folder made by a real `sync`: the same facts as the fleet
shows (one taxpayer), scope applied by every call, keyset pages, the change feed."""

from __future__ import annotations

from satdescarga.readmodel import DocumentFilters, Scope, TaxpayerFilters
from satdescarga.readmodel.folder import FolderReadModel
from satdescarga.vocabulary import DownloadType

from ..fleet.conftest import EKU
from .conftest import START

OTHER = Scope.only(["XAXX010101000"])


def test_the_folder_is_one_taxpayer_with_its_documents(read_folder: FolderReadModel) -> None:
    read, every = read_folder, Scope.everything()
    assert read.kind == "folder"
    read.ping()
    page = read.taxpayers(every, TaxpayerFilters(), START)
    assert [r.rfc for r in page.items] == [EKU] and page.total == 1
    row = page.items[0]
    assert row.documents > 0 and row.state == "al_dia" and row.complete_until is not None
    assert row.fiel_valid_until is not None and not row.fiel_expired
    detail = read.taxpayer(every, EKU.lower(), START)
    assert detail is not None and detail.policy["since"] == "2025-02-01"
    assert read.taxpayer(every, "XAXX010101000", START) is None


def test_documents_pages_detail_xml_and_exports(read_folder: FolderReadModel) -> None:
    read, every = read_folder, Scope.everything()
    whole = read.documents(every, DocumentFilters(), 10_000, None)
    assert whole.next is None and len(whole.items) > 5
    walked, cursor = [], None
    while True:
        page = read.documents(every, DocumentFilters(), 4, cursor)
        walked += page.items
        if page.next is None:
            break
        cursor = page.next
    assert walked == whole.items
    keys = [(d.fecha_emision, d.direction, d.uuid) for d in walked]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
    row = next(d for d in whole.items if d.has_xml)
    detail = read.document(every, row.uuid.lower())
    assert detail is not None and detail.row == row and detail.cfdi is not None
    xml = read.document_xml(every, row.uuid)
    assert xml is not None and row.uuid.encode() in xml.upper()
    assert row.fecha_emision is not None
    month, direction = f"{row.fecha_emision:%Y-%m}", DownloadType(row.direction)
    assert row.uuid in [str(r[0]).upper() for r in read.export_rows(every, EKU, month, direction,
                                                               "metadata") or []]  # fmt: skip
    assert dict(read.export_xml(every, EKU, month, direction) or [])[row.uuid] == xml


def test_report_chart_requests_and_changes(read_folder: FolderReadModel) -> None:
    read, every = read_folder, Scope.everything()
    lines = read.report(every, EKU, "2025-02")
    assert lines and all(line.month == "2025-02" for line in lines)
    bars = read.monthly(every, EKU)
    assert [b.month for b in bars] == ["2025-02"] and bars[0].documents > 0
    sent = read.requests(every, EKU, 100)
    assert sent and any(r.explanation for r in sent)
    feed = read.changes(every, None, 3)
    walked, cursor = list(feed.items), feed.next
    while True:
        page = read.changes(every, cursor, 3)
        if not page.items:
            assert page.next == cursor  # the last page still gives a cursor to poll from
            break
        walked += page.items
        cursor = page.next
    assert len(walked) == len({c.id for c in walked}) > 5
    assert [c.id for c in read.recent_changes(every, EKU, 3)] == [c.id for c in walked][::-1][:3]


def test_out_of_scope_the_folder_reads_as_empty(read_folder: FolderReadModel) -> None:
    read = read_folder
    assert read.taxpayers(OTHER, TaxpayerFilters(), START).items == []
    assert read.taxpayer(OTHER, EKU, START) is None
    uuid = read.documents(Scope.everything(), DocumentFilters(), 1, None).items[0].uuid
    assert read.documents(OTHER, DocumentFilters(), 50, None).items == []
    assert read.document(OTHER, uuid) is None and read.document_xml(OTHER, uuid) is None
    assert read.changes(OTHER, None, 50).items == []
    assert read.report(OTHER, EKU, None) is None and read.monthly(OTHER, EKU) == []
    assert read.requests(OTHER, EKU, 5) == [] and read.recent_changes(OTHER, EKU, 5) == []
    assert read.alerts(OTHER, START) == []
    assert read.export_rows(OTHER, EKU, "2025-02", DownloadType.ISSUED, "metadata") is None
    assert read.export_xml(OTHER, EKU, "2025-02", DownloadType.ISSUED) is None
