"""The fleet's read model over a fleet kept by real steps: what each call shows, the scope
applied by every one of them, keyset pages that never skip nor repeat."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from satdescarga.readmodel import DocumentFilters, Scope, TaxpayerFilters, TaxpayerSort
from satdescarga.readmodel.cursor import CursorError
from satdescarga.readmodel.fleet import sorted_page
from satdescarga.vocabulary import DownloadType

from .conftest import START, ReadFleet

NOBODY = Scope.only(())


def test_overview_lists_filters_sorts_and_pages_the_taxpayers(read_fleet: ReadFleet) -> None:
    read, every = read_fleet.read, Scope.everything()
    page = read.taxpayers(every, TaxpayerFilters(), START)
    assert [r.rfc for r in page.items] == sorted(read_fleet.rfcs)
    assert page.total == 5 and sum(page.by_state.values()) == 5
    synced = [r for r in page.items if r.rfc in read_fleet.synced]
    assert all(r.documents > 0 and r.state == "al_dia" for r in synced)
    assert all(r.complete_until is not None and r.complete_until.tzinfo for r in synced)
    new = [r for r in page.items if r.rfc not in read_fleet.synced]
    assert all(r.state == "nuevo" and r.documents == 0 for r in new)
    only_new = read.taxpayers(every, TaxpayerFilters(states=("nuevo",)), START)
    assert only_new.total == 3 and only_new.by_state == page.by_state
    found = read.taxpayers(every, TaxpayerFilters(search=read_fleet.rfcs[1][:6].lower()), START)
    assert read_fleet.rfcs[1] in [r.rfc for r in found.items]
    by_docs = read.taxpayers(every, TaxpayerFilters(sort=TaxpayerSort.RFC, descending=True,
                                                    page=2, per_page=2), START)  # fmt: skip
    assert [r.rfc for r in by_docs.items] == sorted(read_fleet.rfcs, reverse=True)[2:4]
    mine = read.taxpayers(Scope.only([read_fleet.rfcs[1]]), TaxpayerFilters(), START)
    assert [r.rfc for r in mine.items] == [read_fleet.rfcs[1]] and mine.total == 1
    assert read.taxpayers(NOBODY, TaxpayerFilters(), START).items == []


def test_a_taxpayer_out_of_scope_reads_as_unknown_in_every_call(read_fleet: ReadFleet) -> None:
    read, eku = read_fleet.read, read_fleet.rfcs[0]
    detail = read.taxpayer(Scope.everything(), eku.lower(), START)
    assert detail is not None and detail.row.rfc == eku and detail.serial
    assert detail.policy["since"] == "2025-02-01"
    other = Scope.only([read_fleet.rfcs[1]])
    uuid = read.documents(Scope.everything(), DocumentFilters(rfc=eku), 1, None).items[0].uuid
    assert read.taxpayer(other, eku, START) is None
    assert read.taxpayer(Scope.everything(), "XAXX010101000", START) is None
    assert read.documents(other, DocumentFilters(rfc=eku), 50, None).items == []
    assert read.document(other, uuid) is None and read.document_xml(other, uuid) is None
    assert read.report(other, eku, None) is None and read.monthly(other, eku) == []
    assert read.requests(other, eku, 10) == [] and read.recent_changes(other, eku, 10) == []
    month = "2025-02"
    assert read.export_rows(other, eku, month, DownloadType.RECEIVED, "metadata") is None
    assert read.export_xml(other, eku, month, DownloadType.RECEIVED) is None
    assert all(c.rfc != eku for c in read.changes(other, None, 1000).items)
    assert all(a.rfc != eku for a in read.alerts(other, START))


def test_documents_walk_every_row_once_in_order(read_fleet: ReadFleet) -> None:
    read, every = read_fleet.read, Scope.everything()
    whole = read.documents(every, DocumentFilters(), 10_000, None)
    assert whole.next is None and len(whole.items) > 10
    walked, cursor = [], None
    while True:
        page = read.documents(every, DocumentFilters(), 7, cursor)
        walked += page.items
        if page.next is None:
            break
        cursor = page.next
    assert walked == whole.items
    keys = [(d.fecha_emision, d.rfc, d.direction, d.uuid) for d in walked]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
    first = whole.items[0]
    issued = read.documents(every, DocumentFilters(direction=DownloadType.ISSUED), 10_000, None)
    assert issued.items and all(d.direction == "emitidos" for d in issued.items)
    assert first.fecha_emision is not None
    day = read.documents(every, DocumentFilters(since=first.fecha_emision,
                         until=first.fecha_emision + timedelta(seconds=1)), 50, None)  # fmt: skip
    assert first in day.items and all(d.fecha_emision == first.fecha_emision for d in day.items)
    by_uuid = read.documents(every, DocumentFilters(uuid=first.uuid.lower()), 5, None)
    assert by_uuid.items[0] == first
    with pytest.raises(CursorError):
        read.documents(every, DocumentFilters(), 5, read.changes(every, None, 1).next)


def test_a_document_its_xml_and_a_month_to_export(read_fleet: ReadFleet) -> None:
    read, every = read_fleet.read, Scope.everything()
    row = next(d for d in read.documents(every, DocumentFilters(), 1000, None).items if d.has_xml)
    detail = read.document(every, row.uuid.lower())
    assert detail is not None and detail.row == row and detail.metadata["Uuid"] == row.uuid
    assert detail.cfdi is not None and detail.cfdi["Uuid"] == row.uuid
    xml = read.document_xml(every, row.uuid)
    assert xml is not None and row.uuid.encode() in xml.upper()
    assert row.fecha_emision is not None
    month, direction = f"{row.fecha_emision:%Y-%m}", DownloadType(row.direction)
    rows = list(read.export_rows(every, row.rfc, month, direction, "metadata") or [])
    assert row.uuid in [r[0] for r in rows]
    files = dict(read.export_xml(every, row.rfc, month, direction) or [])
    assert files[row.uuid] == xml


def test_report_chart_and_requests_of_a_synced_taxpayer(read_fleet: ReadFleet) -> None:
    read, every, eku = read_fleet.read, Scope.everything(), read_fleet.rfcs[0]
    lines = read.report(every, eku, None)
    assert lines and {line.direction for line in lines} <= {"emitidos", "recibidos"}
    assert sum(line.metadata for line in lines) >= 1
    bars = read.monthly(every, eku)
    assert bars and sum(b.documents for b in bars) == read.taxpayer(every, eku, START).row.documents  # type: ignore[union-attr]
    sent = read.requests(every, eku, 50)
    assert sent and all(r.sent_at is not None for r in sent)
    assert any(r.explanation for r in sent)
    assert read.report(every, "XAXX010101000", None) is None


def test_the_change_feed_never_skips_a_change_committed_late(read_fleet: ReadFleet) -> None:
    """A change recorded by a transaction still running is not listed, nor anything recorded
    after it, until it commits; then both come, once, in order."""
    read, every, rfc = read_fleet.read, Scope.everything(), "XEXX010101000"
    page = read.changes(every, None, 100_000)
    assert page.next is not None and len(page.items) > 10
    assert read.changes(every, page.next, 100).items == []
    insert = (
        "INSERT INTO fleet_changes (taxpayer, uuid, change, discovered_at) "
        "VALUES (%s, %s, 'aparecio', '2025-03-10 12:00')"
    )
    with psycopg.connect(read_fleet.url) as slow, psycopg.connect(read_fleet.url) as quick:
        try:
            slow.execute(insert, (rfc, "LENTO"))
            quick.execute(insert, (rfc, "RAPIDO"))
            quick.commit()
            waiting = read.changes(every, page.next, 100)
            assert waiting.items == [] and waiting.next == page.next
            slow.commit()
            after = read.changes(every, page.next, 100)
            assert [c.uuid for c in after.items] == ["LENTO", "RAPIDO"]
            assert read.changes(every, after.next, 100).items == []
            assert read.changes(Scope.only([rfc]), None, 100).items == after.items
        finally:
            quick.execute("DELETE FROM fleet_changes WHERE taxpayer = %s", (rfc,))
            quick.commit()


def test_document_pages_never_skip_nor_repeat_under_inserts(read_fleet: ReadFleet) -> None:
    """Documents written while someone pages: one older than the page already read comes
    once further on; one newer than it does not make a row come twice."""
    read, every, rfc = read_fleet.read, Scope.everything(), "XEXX010101000"
    filters = DocumentFilters()
    before = read.documents(every, filters, 10_000, None).items
    first = read.documents(every, filters, 5, None)
    newest, oldest = before[0].fecha_emision, before[-1].fecha_emision
    assert newest is not None and oldest is not None and first.next is not None
    insert = (
        "INSERT INTO fleet_metadata (taxpayer, direction, uuid, rfc_emisor, rfc_receptor, "
        "fecha_emision, estatus) VALUES (%s, 'recibidos', %s, 'AAA010101AAA', %s, %s, 'Vigente')"
    )
    with psycopg.connect(read_fleet.url) as db:
        try:
            for uuid, when in (("NUEVO", newest), ("VIEJO", oldest - timedelta(days=1))):
                db.execute(insert, (rfc, uuid, rfc, when.replace(tzinfo=None)))
            db.commit()
            walked = list(first.items)
            cursor: str | None = first.next
            while cursor is not None:
                page = read.documents(every, filters, 5, cursor)
                walked += page.items
                cursor = page.next
            uuids = [d.uuid for d in walked]
            assert len(uuids) == len(set(uuids)) == len(before) + 1
            assert "VIEJO" in uuids and "NUEVO" not in uuids
            assert read.documents(every, filters, 1, None).items[0].uuid == "NUEVO"
        finally:
            db.execute("DELETE FROM fleet_metadata WHERE taxpayer = %s", (rfc,))
            db.execute("DELETE FROM fleet_changes WHERE taxpayer = %s", (rfc,))
            db.execute("DELETE FROM fleet_document_counts WHERE taxpayer = %s", (rfc,))
            db.commit()


def test_the_counted_documents_follow_inserts_and_deletes(read_fleet: ReadFleet) -> None:
    """fleet/counts.py: a self-invoice (a row in each direction) is one document; removing
    its rows removes it."""
    rfc = "XEXX010101001"
    count = "SELECT documents FROM fleet_document_counts WHERE taxpayer = %s"
    insert = (
        "INSERT INTO fleet_metadata (taxpayer, direction, uuid, fecha_emision) "
        "VALUES (%s, %s, %s, '2025-02-01')"
    )
    with psycopg.connect(read_fleet.url) as db:
        try:
            db.execute(insert, (rfc, "emitidos", "A"))
            db.execute(insert, (rfc, "recibidos", "A"))
            db.execute(insert, (rfc, "recibidos", "B"))
            db.commit()
            assert db.execute(count, (rfc,)).fetchone() == (2,)
            db.execute("DELETE FROM fleet_metadata WHERE taxpayer = %s AND uuid = 'A' "
                       "AND direction = 'emitidos'", (rfc,))  # fmt: skip
            assert db.execute(count, (rfc,)).fetchone() == (2,)
            db.execute("DELETE FROM fleet_metadata WHERE taxpayer = %s", (rfc,))
            assert db.execute(count, (rfc,)).fetchone() == (0,)
        finally:
            db.rollback()
            db.execute("DELETE FROM fleet_metadata WHERE taxpayer = %s", (rfc,))
            db.execute("DELETE FROM fleet_changes WHERE taxpayer = %s", (rfc,))
            db.execute("DELETE FROM fleet_document_counts WHERE taxpayer = %s", (rfc,))
            db.commit()


def test_pages_chosen_in_sql_are_the_pages_of_every_row_sorted(read_fleet: ReadFleet) -> None:
    """fleet_overview.py picks a page in SQL: the same rows, order, totals and counts by state
    as sorting every row (fleet.sorted_page, what the lag sort and a folder do)."""
    read, every = read_fleet.read, Scope.everything()
    rows = read.taxpayers(every, TaxpayerFilters(per_page=1000), START).items
    assert len(rows) == 5
    for sort in TaxpayerSort:
        for descending in (False, True):
            for filters in (
                TaxpayerFilters(sort=sort, descending=descending, page=2, per_page=2),
                TaxpayerFilters(sort=sort, descending=descending, states=("nuevo",)),
                TaxpayerFilters(sort=sort, descending=descending, search=rows[3].rfc[-5:]),
            ):
                assert read.taxpayers(every, filters, START) == sorted_page(rows, filters)
