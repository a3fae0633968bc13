"""The ledger's schema through Alembic: a fresh ledger is built by the revisions, ledgers written
by the releases before Alembic (committed fixtures) are upgraded in place with every row intact,
and all of them end up exactly as `sync/ledger/schema.py` declares."""

from __future__ import annotations

import fnmatch
import json
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from satdescarga.cli import main
from satdescarga.sync.ledger import schema
from satdescarga.sync.ledger.migrate import (
    HEAD,
    MIGRATIONS,
    WRITE,
    LedgerVersionError,
    alembic_config,
    sqlite_engine,
)
from satdescarga.sync.ledger.sql import SqliteLedger
from satdescarga.sync.states import PackageState, RequestOutcome, WindowState

from ..conftest import TESTS

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = TESTS.parent
TABLES = ("meta", "windows", "requests", "request_events", "packages", "tokens", "package_issues")


def copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copyfile(FIXTURES / name, target)
    return target


def dump(path: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every ledger table: its columns and its rows in insertion order."""
    db = sqlite3.connect(path)
    try:
        present = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        tables = {}
        for table in (t for t in TABLES if t in present):
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            rows = db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            tables[table] = (columns, rows)
        return tables
    finally:
        db.close()


def scalar(path: Path, sql: str) -> Any:
    db = sqlite3.connect(path)
    try:
        row = db.execute(sql).fetchone()
        return row[0] if row else None
    finally:
        db.close()


def differences(path: Path) -> list[Any]:
    """What Alembic's autogenerate sees between the database and `schema.metadata`."""
    engine = sqlite_engine(path)
    try:
        with engine.connect() as connection:
            options = {"compare_type": True, "compare_server_default": True}
            context = MigrationContext.configure(connection, opts=options)
            return list(compare_metadata(context, schema.metadata))
    finally:
        engine.dispose()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "ledger.sqlite"
    SqliteLedger(path).close()
    yield path


# -- the revisions -----------------------------------------------------------------------------
def test_head_is_the_last_revision_and_they_form_one_line() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [HEAD]
    chain = [revision.revision for revision in script.walk_revisions()]
    assert chain == ["0004", "0003", "0002", "0001"]
    assert script.get_revision("0002").down_revision == "0001"


def test_a_fresh_ledger_is_at_head_and_matches_the_declared_schema(fresh: Path) -> None:
    assert scalar(fresh, "SELECT version_num FROM alembic_version") == HEAD
    assert differences(fresh) == []
    assert set(dump(fresh)) == set(TABLES)
    assert scalar(fresh, "PRAGMA journal_mode") == "wal"


def test_the_revisions_go_down_and_up_again(fresh: Path) -> None:
    engine = sqlite_engine(fresh)
    try:
        with engine.connect().execution_options(**{WRITE: True}) as connection:
            with connection.begin():
                command.downgrade(alembic_config(connection), "0001")
            assert "package_issues" not in dump(fresh)
            with connection.begin():
                command.downgrade(alembic_config(connection), "base")
            with connection.begin():
                command.upgrade(alembic_config(connection), "head")
    finally:
        engine.dispose()
    assert differences(fresh) == []


# -- ledgers from before Alembic -----------------------------------------------------------------
@pytest.mark.parametrize("version", [1, 2])
def test_a_pre_alembic_ledger_is_upgraded_in_place_with_its_rows(
    tmp_path: Path, version: int
) -> None:
    path = copy(f"ledger-v{version}.sqlite", tmp_path)
    before = dump(path)
    assert "alembic_version" not in {
        r for (r,) in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")
    }
    assert scalar(path, "SELECT value FROM meta WHERE key = 'schema_version'") == str(version)
    assert ("package_issues" in before) is (version == 2)

    ledger = SqliteLedger(path)
    try:
        windows, requests, packages = ledger.windows(), ledger.requests(), ledger.packages()
        issues = ledger.package_issues()
    finally:
        ledger.close()

    after = dump(path)
    assert scalar(path, "SELECT version_num FROM alembic_version") == HEAD
    assert differences(path) == []
    for table, (columns, rows) in before.items():  # every row, every value, in order
        names = ", ".join(f'"{c}"' for c in columns)
        db = sqlite3.connect(path)
        kept = db.execute(f"SELECT {names} FROM {table} ORDER BY rowid").fetchall()
        db.close()
        assert kept == rows, table
    if version == 1:
        assert after["package_issues"][1] == []
        assert {row[-1] for row in after["packages"][1]} == {"{}"}  # issue_counts, default
    assert len(windows) == len(before["windows"][1]) and len(packages) == len(before["packages"][1])
    assert {w.state for w in windows} >= {WindowState.DONE, WindowState.SPLIT}
    assert {r.outcome for r in requests} == {RequestOutcome.FINISHED, RequestOutcome.FAILED}
    assert PackageState.LOST in {p.state for p in packages}
    assert len(issues) == (8 if version == 2 else 0)
    assert all(issue["kind"] == "reparada" for issue in issues)


@pytest.mark.parametrize("version", [1, 2])
def test_status_reads_an_upgraded_ledger_as_the_last_pre_alembic_release_did(
    tmp_path: Path, version: int
) -> None:
    path = copy(f"ledger-v{version}.sqlite", tmp_path)
    arguments = ["status", "--out", str(tmp_path / "out"), "--state", str(path), "--json"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    expected = json.loads((FIXTURES / f"status-v{version}.json").read_text(encoding="utf-8"))
    shown = json.loads(result.stdout)
    assert shown.pop("views") == []  # no run of this release recorded how current jobs are
    assert shown == in_todays_json(expected)


def in_todays_json(old: dict[str, Any]) -> dict[str, Any]:
    """What that release's `status --json` said, in today's contract (docs/json.md): English
    keys, states as the ledger stores them; documents are now the outputs' distinct UUIDs
    (there are no outputs here), read issues by their English key."""
    values = {
        state.label: state.value for enum in (WindowState, RequestOutcome, PackageState)
        for state in enum
    }  # fmt: skip
    issues = {"filas reparadas": "repaired", "entradas omitidas": "skipped"}
    total: dict[str, Any] = {
        new: {values[label]: n for label, n in old[key].items()}
        for key, new in (("ventanas", "windows"), ("solicitudes", "requests"),
                         ("paquetes", "packages"))
    }  # fmt: skip
    total |= {"documents": 0, "documents_with_metadata": 0, "documents_with_xml": 0}
    total["read_issues"] = {issues[k]: n for k, n in old["avisos_de_lectura"].items()}
    return {"event": "status", "total": total, "lost": old["perdidos"], "failed": old["fallidas"]}


def test_a_pre_alembic_upgrade_cut_short_is_finished(tmp_path: Path) -> None:
    """That release created package_issues, then added the column and wrote version 2: a crash
    in between left version 1 with the table already there."""
    path = copy("ledger-v2.sqlite", tmp_path)
    db = sqlite3.connect(path)
    with db:
        db.execute("ALTER TABLE packages DROP COLUMN issue_counts")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.close()
    SqliteLedger(path).close()
    assert scalar(path, "SELECT version_num FROM alembic_version") == HEAD
    assert scalar(path, "SELECT COUNT(*) FROM package_issues") == 8
    assert differences(path) == []


def test_an_upgrade_that_fails_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = copy("ledger-v1.sqlite", tmp_path)
    before = dump(path)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Operations, "add_column", broken)  # after package_issues is created
    with pytest.raises(RuntimeError, match="disk on fire"):
        SqliteLedger(path)
    assert dump(path) == before  # no alembic_version, no package_issues: one transaction
    monkeypatch.undo()
    SqliteLedger(path).close()
    assert scalar(path, "SELECT version_num FROM alembic_version") == HEAD


# -- what is not a ledger this release can use ---------------------------------------------------
def test_a_ledger_from_a_newer_release_is_refused_untouched(fresh: Path) -> None:
    db = sqlite3.connect(fresh)
    with db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    db.close()
    before = dump(fresh)
    with pytest.raises(LedgerVersionError, match="más nueva"):
        SqliteLedger(fresh)
    assert dump(fresh) == before


def test_an_unknown_pre_alembic_version_is_refused(tmp_path: Path) -> None:
    path = copy("ledger-v2.sqlite", tmp_path)
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(LedgerVersionError, match="desconocida"):
        SqliteLedger(path)


def test_a_database_that_is_not_a_ledger_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE windows (x)")
    db.close()
    with pytest.raises(LedgerVersionError, match="no es un ledger"):
        SqliteLedger(path)


# -- cost and packaging ------------------------------------------------------------------------
def test_opening_a_ledger_at_head_does_not_load_alembic(fresh: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from satdescarga.sync.ledger.sql import SqliteLedger\n"
        f"SqliteLedger(Path({str(fresh)!r})).close()\n"
        "print('alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("command", [["sync"], ["status"], ["download"]])
def test_help_loads_neither_sqlalchemy_nor_alembic(command: list[str]) -> None:
    code = (
        "import sys\nfrom satdescarga.cli import main\n"
        f"try:\n    main({[*command, '--help']!r})\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('sqlalchemy', 'alembic') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_migrations_are_package_data() -> None:
    """An installed wheel carries every file Alembic needs (env.py, the template, revisions)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["satdescarga"]
    package = MIGRATIONS.parents[2]  # src/satdescarga
    files = [p for p in MIGRATIONS.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert {p.name for p in files} >= {"env.py", "script.py.mako"}
    for path in files:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
