"""Counters say what they count: the sync summary and `status` separate this run ("esta
ejecución", "run") from everything so far ("en total", "total"), and documents are distinct
UUIDs (a document with metadata and XML, or swept twice, is one), in text and in --json."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from satdescarga.cli import main
from satdescarga.emulator import Emulator

from ..sync.conftest import FIEL_DIR, PASSWORD_FILE, SINCE, emulator

MONTH = (f"{SINCE:%Y}-03-01", f"{SINCE:%Y}-03-31")


@pytest.fixture(scope="module")
def sat() -> Iterator[Emulator]:
    with emulator() as running:
        yield running


def sync(sat: Emulator, out: Path, *extra: str) -> Result:
    args = ["sync", "--cer", str(FIEL_DIR / "EKU9003173C9.cer"),
            "--key", str(FIEL_DIR / "EKU9003173C9.key"), "--password-file", str(PASSWORD_FILE),
            "--endpoint-base", sat.base_url, "--issued", "--since", MONTH[0], "--until", MONTH[1],
            "--out", str(out), "--poll", "0.01", *extra]  # fmt: skip
    return CliRunner().invoke(main, args)


def summary_of(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output[-3000:]
    last: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    assert last["event"] == "summary"
    return last


def distinct_uuids(out: Path) -> tuple[int, int, int]:
    db = sqlite3.connect(out / "satdescarga.sqlite")
    try:
        meta = {row[0] for row in db.execute("SELECT uuid FROM metadata")}
        xml = {row[0] for row in db.execute("SELECT uuid FROM cfdi")}
    finally:
        db.close()
    return len(meta | xml), len(meta), len(xml)


def test_run_and_total_are_apart_and_documents_are_distinct_uuids(
    sat: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = summary_of(sync(sat, out, "--json"))
    documents, with_metadata, with_xml = distinct_uuids(out)
    assert with_metadata and with_xml  # metadata and XML of the same documents
    total = first["total"]
    assert (total["documents"], total["documents_with_metadata"], total["documents_with_xml"]) == (
        documents,
        with_metadata,
        with_xml,
    )
    run = first["run"]
    assert run["requests_sent"] == 2 and run["packages_read"] == total["packages"] >= 2
    assert run["rows_read"] == with_metadata + with_xml > documents  # rows are not documents

    again = summary_of(sync(sat, out, "--json"))
    assert again["run"] == {**again["run"], "requests_sent": 0, "packages_read": 0,
                            "rows_read": 0, "bytes": 0}  # fmt: skip
    assert {k: v for k, v in again["total"].items()} == total  # the same totals

    status = CliRunner().invoke(main, ["status", "--out", str(out), "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["total"]["documents"] == documents

    human = sync(sat, out)
    assert human.exit_code == 0, human.output
    assert "esta ejecución" in human.stderr and "en total" in human.stderr
    assert f"{documents:,} distintos (UUID) en total" in " ".join(human.stderr.split())
    shown = CliRunner().invoke(main, ["status", "--out", str(out)])
    assert f"{documents:,} distintos (UUID)" in " ".join(shown.stdout.split())


def test_a_document_is_counted_once_whatever_it_has(tmp_path: Path) -> None:
    """Metadata only, XML only, or both: one document each."""
    from satdescarga.sync.documents import DocumentTotals, totals

    database = tmp_path / "satdescarga.sqlite"
    assert totals(database) == DocumentTotals()  # no outputs yet: nothing, and nothing made
    assert not database.exists()
    db = sqlite3.connect(database)
    db.execute("CREATE TABLE metadata (uuid TEXT PRIMARY KEY)")
    db.execute("CREATE TABLE cfdi (uuid TEXT PRIMARY KEY)")
    db.executemany("INSERT INTO metadata VALUES (?)", [("A",), ("B",)])
    db.executemany("INSERT INTO cfdi VALUES (?)", [("B",), ("C",)])
    db.commit()
    db.close()
    assert totals(database) == DocumentTotals(documents=3, with_metadata=2, with_xml=2)
