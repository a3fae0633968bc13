"""Writers' own fast paths store exactly what the generic rows store.

A writer takes a faster form of the rows only when the source offers one (`sqlite_form`),
never by recognising the source: any source may offer it, and any may decline.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from satdescarga.packages import (
    CFDI_TABLE,
    METADATA_TABLE,
    Column,
    ColumnType,
    MetadataPackage,
    MetadataRows,
    export_package,
    open_writer,
    package_rows,
)
from satdescarga.packages.export import Row, SqliteForm, Table
from tests.packages.conftest import HEADER, UUID1, UUID2, UUID3, make_zip, row

RETENCIONES = HEADER.replace("Monto~EfectoComprobante", "MontoOp~MontoRet")


def tricky(tmp_path: Path) -> Path:
    cfdi = "\r\n".join(
        [
            HEADER,
            row(UUID1, estatus="0", cancelacion="2024-05-01 10:00:00", receptor="Coma, y 'q'"),
            row(UUID2, monto="", estatus="", fecha="2024-01-11T07:10:23"),
            row(UUID3, monto=" 15.50 ", fecha="2024-01-11") + "~extra~otra",
            row("AAAAAAAA-0000-4000-8000-000000000004", fecha=""),
            row("AAAAAAAA-0000-4000-8000-000000000005", estatus="Cancelado", cancelacion=" "),
        ]
    )
    ret = "\n".join(
        [
            RETENCIONES,
            "~".join(
                [*row("BBBBBBBB-0000-4000-8000-000000000001").split("~")[:8], "10.00", "", "1", ""]
            ),
            "~".join(
                [*row("BBBBBBBB-0000-4000-8000-000000000002").split("~")[:8], "9", "1.5", "0", ""]
            ),
        ]
    )
    terceros = f"Uuid~RfcACuentaTerceros~NombreACuentaTerceros\n{UUID2.lower()}~AAAA010101AA1~T\n"
    return make_zip(
        tmp_path / "m.zip",
        [
            ("A_01.txt", cfdi.encode()),
            ("B_01.txt", ret.encode()),
            ("A_tercero.txt", terceros.encode()),
        ],
    )


def dump(db_path: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(db_path)
    names = ", ".join(f'"{n}", typeof("{n}")' for n in METADATA_TABLE.names)
    try:
        return db.execute(f"SELECT {names} FROM metadata ORDER BY uuid").fetchall()
    finally:
        db.close()


def test_sqlite_metadata_fast_path_stores_what_generic_rows_store(tmp_path: Path) -> None:
    source = tricky(tmp_path)
    fast, generic = tmp_path / "fast.sqlite", tmp_path / "generic.sqlite"
    with MetadataPackage(source) as package, open_writer("sqlite", METADATA_TABLE, fast) as w:
        rows = package_rows(package)
        assert isinstance(rows, MetadataRows)
        assert export_package(package, w) == 7
    with MetadataPackage(source) as package, open_writer("sqlite", METADATA_TABLE, generic) as w:
        assert w.write_rows(list(package_rows(package))) == 7  # a plain list: generic path
    assert dump(fast) == dump(generic)
    stored = {r[0]: r[1::2] and r[::2] for r in dump(fast)}
    assert stored[UUID1][11] == "Cancelado" and stored[UUID2][11] is None
    assert stored[UUID2][6] == "2024-01-11 07:10:23" and stored[UUID2][8] is None
    assert stored[UUID2][13] == "AAAA010101AA1"
    assert stored[UUID3][6] == "2024-01-11 00:00:00" and stored[UUID3][8] == 15.5
    assert stored["BBBBBBBB-0000-4000-8000-000000000002"][9] == 1.5


def test_metadata_rows_iterate_like_metadata_rows(tmp_path: Path) -> None:
    with MetadataPackage(tricky(tmp_path)) as package:
        rows = package_rows(package)
        assert isinstance(rows, MetadataRows)
        assert rows.sqlite_form(CFDI_TABLE) is None  # not rows of that table
        first = next(rows)
        assert rows.sqlite_form(METADATA_TABLE) is None  # already iterating: use the rows
        assert len([first, *rows]) == 7


def test_taking_the_sqlite_form_consumes_the_rows(tmp_path: Path) -> None:
    with MetadataPackage(tricky(tmp_path)) as package:
        rows = package_rows(package)
        assert isinstance(rows, MetadataRows)
        form = rows.sqlite_form(METADATA_TABLE)
        assert form is not None and list(rows) == []
        values = list(form.rows)
    assert len(values) == 7
    assert all(type(v) in (str, int) for row in values for v in row)  # no None, no Estatus


PAIR = Table("pares", (Column("uuid"), Column("monto", ColumnType.DECIMAL)))


class Offering:
    """A source that is no `MetadataRows` and offers its own form (or declines)."""

    def __init__(self, form: SqliteForm | None, rows: list[Row]) -> None:
        self.form, self.rows, self.asked = form, rows, 0

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def sqlite_form(self, table: Table) -> SqliteForm | None:
        self.asked += 1
        return self.form


def test_sqlite_takes_the_form_any_source_offers_and_the_rows_otherwise(tmp_path: Path) -> None:
    db_path = tmp_path / "pares.sqlite"
    offered = Offering(SqliteForm([("A", ""), ("B", "1.5")], frozenset({"monto"})), [])
    declined = Offering(None, [("C", None), ("D", "")])
    with open_writer("sqlite", PAIR, db_path) as writer:
        assert writer.write_rows(offered) == 2
        assert writer.write_rows(declined) == 2
    assert offered.asked == declined.asked == 1
    db = sqlite3.connect(db_path)
    stored = db.execute("SELECT uuid, monto, typeof(monto) FROM pares ORDER BY uuid").fetchall()
    db.close()
    # "" is NULL only where the form says so; the plain rows store what they hold.
    assert stored == [
        ("A", None, "null"),
        ("B", 1.5, "real"),
        ("C", None, "null"),
        ("D", "", "text"),
    ]
