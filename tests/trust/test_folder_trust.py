"""Trust in a sync folder, through the command line against the emulator: one folder, one
taxpayer (issue 20, item 3); the ledger is known, or nothing is sent (item 4); the outputs are
rebuilt from what is on disk (item 5). Every refusal is counted at the emulator: nothing sent."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from satdescarga.cli import main
from satdescarga.emulator import Emulator
from satdescarga.emulator.security.ca import TEST_PASSWORD, issue_fiel

from ..sync.conftest import FIEL_DIR, PASSWORD_FILE, RFC, SINCE, emulator

MARCH = (f"{SINCE:%Y}-03-01", f"{SINCE:%Y}-03-31")
OTHER = "GOMA800101AB1"


@pytest.fixture
def sat() -> Iterator[Emulator]:
    with emulator() as running:
        yield running


def credentials(sat: Emulator, cer: Path, key: Path, password_file: Path) -> list[str]:
    return [
        "--cer", str(cer), "--key", str(key), "--password-file", str(password_file),
        "--endpoint-base", sat.base_url,
    ]  # fmt: skip


def sync(sat: Emulator, out: Path, *args: str, fiel: list[str] | None = None) -> Result:
    mine = credentials(
        sat, FIEL_DIR / "EKU9003173C9.cer", FIEL_DIR / "EKU9003173C9.key", PASSWORD_FILE
    )
    command = ["sync", *(fiel or mine), "--since", MARCH[0], "--until", MARCH[1]]
    return CliRunner().invoke(main, [*command, "--out", str(out), "--json", *args])


def traffic(sat: Emulator) -> tuple[int, int, int]:
    """Tokens, requests and package downloads SAT saw (every RFC)."""
    stats = sat.stats()
    requests = [r for rfc in stats["rfcs"].values() for r in rfc.get("requests", [])]
    downloads = sum(p["downloads"] for r in requests for p in r["packages"])
    return int(stats["tokens_issued"]), len(requests), downloads


def summary(result: Result) -> dict[str, object]:
    return dict(json.loads(result.output.strip().splitlines()[-1]))


@pytest.fixture
def synced(sat: Emulator, tmp_path: Path) -> Path:
    out = tmp_path / "facturas"
    first = sync(sat, out)
    assert first.exit_code == 0, first.output
    return out


def wrong_password(tmp_path: Path) -> Path:
    """A password file that would fail the e.firma (exit 3) if it were ever read."""
    path = tmp_path / "no-es-la-clave.txt"
    path.write_text("no-es-la-clave", encoding="utf-8")
    return path


# -- 3. one folder, one taxpayer ---------------------------------------------------------------
def test_another_rfc_is_refused_before_the_password_naming_the_folders_rfc(
    sat: Emulator, synced: Path, tmp_path: Path
) -> None:
    cer, key, _ = issue_fiel(OTHER, tmp_path / "otra", password=TEST_PASSWORD)
    before = traffic(sat)
    other = credentials(sat, cer, key, wrong_password(tmp_path))
    result = sync(sat, synced, fiel=other)
    assert result.exit_code == 2, result.output
    message = json.loads(result.output.strip().splitlines()[-1])["message"]
    assert f"es del RFC {RFC}" in message and OTHER in message
    assert "una carpeta (--out) por contribuyente" in message and "fleet" in message
    assert traffic(sat) == before
    assert not (synced / OTHER).exists()


def test_a_ledger_from_before_the_rule_adopts_the_rfc_of_its_history(
    sat: Emulator, synced: Path, tmp_path: Path
) -> None:
    ledger = synced / ".satdescarga" / "ledger.sqlite"
    with sqlite3.connect(ledger) as db:  # as an earlier release left it: no folder identity
        db.execute("DELETE FROM meta WHERE key LIKE 'folder_%'")
    cer, key, _ = issue_fiel(OTHER, tmp_path / "otra", password=TEST_PASSWORD)
    before = traffic(sat)
    result = sync(sat, synced, fiel=credentials(sat, cer, key, wrong_password(tmp_path)))
    assert result.exit_code == 2 and f"es del RFC {RFC}" in result.output
    assert traffic(sat) == before
    again = sync(sat, synced)  # its own taxpayer goes on, and the folder records who it is
    assert again.exit_code == 0, again.output
    with sqlite3.connect(ledger) as db:
        assert dict(db.execute("SELECT key, value FROM meta WHERE key LIKE 'folder_%'")) == {
            "folder_rfc": RFC,
            "folder_service": "cfdi",
        }


def test_the_other_service_family_is_refused_in_the_same_folder(
    sat: Emulator, synced: Path
) -> None:
    before = traffic(sat)
    result = sync(sat, synced, "--service", "retenciones")
    assert result.exit_code == 2, result.output
    assert "servicio cfdi" in result.output and "otra carpeta" in result.output
    assert traffic(sat) == before


def test_download_into_another_taxpayers_sync_folder_is_refused(
    sat: Emulator, synced: Path, tmp_path: Path
) -> None:
    cer, key, _ = issue_fiel(OTHER, tmp_path / "otra", password=TEST_PASSWORD)
    before = traffic(sat)
    other = credentials(sat, cer, key, wrong_password(tmp_path))
    result = CliRunner().invoke(
        main, ["download", *other, "PAQUETE_01", "--out", str(synced / "paquetes")]
    )
    assert result.exit_code == 2, result.output
    assert f"es del RFC {RFC}" in result.output
    assert traffic(sat) == before


def test_demo_refuses_a_sync_folder(synced: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--out", str(synced)])
    assert result.exit_code == 2 and "no es de una demo" in result.output


# -- 4. the ledger is known, or nothing is sent ---------------------------------------------------
def damage_ledger(ledger: Path, how: str) -> None:
    if how == "missing":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ledger}{suffix}").unlink(missing_ok=True)
    elif how == "empty":
        ledger.write_bytes(b"")
    elif how == "garbage":
        ledger.write_bytes(b"esto no es una base de datos\n" * 100)
    elif how == "foreign":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ledger}{suffix}").unlink(missing_ok=True)
        with sqlite3.connect(ledger) as db:
            db.execute("CREATE TABLE clientes (nombre TEXT)")
    elif how == "newer":
        with sqlite3.connect(ledger) as db:
            db.execute("UPDATE alembic_version SET version_num = '9999'")


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("missing", "no existe"),
        ("empty", "está vacío"),
        ("garbage", "no es un ledger de satdescarga (no es una base SQLite)"),
        ("foreign", "no es un ledger de satdescarga (no tiene las tablas"),
        ("newer", "versión más nueva de satdescarga (revisión 9999)"),
    ],
)
def test_outputs_without_a_usable_ledger_are_refused_by_name(
    sat: Emulator, synced: Path, tmp_path: Path, how: str, said: str
) -> None:
    ledger = synced / ".satdescarga" / "ledger.sqlite"
    damage_ledger(ledger, how)
    before = traffic(sat)
    mine = credentials(
        sat, FIEL_DIR / "EKU9003173C9.cer", FIEL_DIR / "EKU9003173C9.key", wrong_password(tmp_path)
    )
    result = sync(sat, synced, fiel=mine)
    assert result.exit_code == 2, result.output
    error = json.loads(result.output.strip().splitlines()[-1])
    assert said in error["message"] and str(ledger) in error["message"]
    assert "no se envió nada" in error["message"] and "inesperado" not in error["message"]
    if how != "newer":
        assert "respaldo" in error["message"]
    assert traffic(sat) == before


def test_a_new_folder_with_an_empty_ledger_starts_fresh(sat: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "nueva"
    (out / ".satdescarga").mkdir(parents=True)
    (out / ".satdescarga" / "ledger.sqlite").write_bytes(b"")
    result = sync(sat, out)
    assert result.exit_code == 0, result.output
    assert summary(result)["complete"] is True


# -- 5. outputs are rebuilt from what is on disk --------------------------------------------------
def xml_files(out: Path) -> list[Path]:
    return sorted((out / RFC).rglob("*.xml"))


def rows(out: Path, table: str) -> int:
    with sqlite3.connect(out / "satdescarga.sqlite") as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_deleted_database_is_rebuilt_from_the_packages_without_sat(
    sat: Emulator, synced: Path
) -> None:
    metadata, cfdi = rows(synced, "metadata"), rows(synced, "cfdi")
    assert metadata and cfdi
    for suffix in ("", "-wal", "-shm"):
        Path(f"{synced / 'satdescarga.sqlite'}{suffix}").unlink(missing_ok=True)
    before = traffic(sat)
    result = sync(sat, synced)
    assert result.exit_code == 0, result.output
    assert (rows(synced, "metadata"), rows(synced, "cfdi")) == (metadata, cfdi)
    rebuilt = summary(result)["rebuilt"]
    assert isinstance(rebuilt, list) and len(rebuilt) == 4  # 2 metadata, 2 XML packages
    assert all("satdescarga.sqlite no existe" in line for line in rebuilt)
    assert traffic(sat)[1:] == before[1:]  # no request, no download


def test_deleted_xml_are_rebuilt_and_report_counts_what_is_on_disk(
    sat: Emulator, synced: Path
) -> None:
    files = xml_files(synced)
    gone = files[:3]
    for path in gone:
        path.unlink()
    report = CliRunner().invoke(main, ["report", "--out", str(synced), "--json"])
    assert report.exit_code == 0, report.output
    lines = [json.loads(line) for line in report.output.splitlines()]
    assert sum(line["xml"] for line in lines) == len(files) - 3
    before = traffic(sat)
    result = sync(sat, synced)
    assert result.exit_code == 0, result.output
    assert all(path.is_file() for path in gone)
    assert any("falta" in line for line in summary(result)["rebuilt"])  # type: ignore[attr-defined]
    assert traffic(sat)[1:] == before[1:]


def test_a_deleted_package_is_downloaded_again_and_counted(sat: Emulator, synced: Path) -> None:
    package = sorted((synced / "paquetes").glob("*.zip"))[0]
    package.unlink()
    _, requests, downloads = traffic(sat)
    result = sync(sat, synced)
    assert result.exit_code == 0, result.output
    assert package.is_file()
    assert traffic(sat)[1:] == (requests, downloads + 1)
    with sqlite3.connect(synced / ".satdescarga" / "ledger.sqlite") as db:
        state, attempts = db.execute(
            "SELECT state, attempts FROM packages WHERE package_id = ?", (package.stem,)
        ).fetchone()
    assert (state, attempts) == ("read", 2)
    assert any("se descarga de nuevo" in line for line in summary(result)["rebuilt"])  # type: ignore[attr-defined]


def test_status_check_walks_everything_and_exits_1_on_damage(synced: Path) -> None:
    clean = CliRunner().invoke(main, ["status", "--out", str(synced), "--check", "--json"])
    assert clean.exit_code == 0, clean.output
    victim = xml_files(synced)[0]
    victim.write_bytes(b"")
    damaged = CliRunner().invoke(main, ["status", "--out", str(synced), "--check"])
    assert damaged.exit_code == 1, damaged.output
    assert victim.name in damaged.output
    repaired = CliRunner().invoke(main, ["status", "--out", str(synced), "--check", "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert victim.stat().st_size > 0


def test_a_database_from_an_earlier_release_is_adopted_not_rebuilt(
    sat: Emulator, synced: Path
) -> None:
    with sqlite3.connect(synced / "satdescarga.sqlite") as db:  # as an earlier release wrote it
        db.execute("DROP TABLE read_packages")
        db.execute("DROP TABLE xml_files")
    before = traffic(sat)
    for _ in range(2):
        result = sync(sat, synced)
        assert result.exit_code == 0, result.output
        assert summary(result)["rebuilt"] == []
    assert traffic(sat)[1:] == before[1:]


def test_a_damaged_database_is_set_aside_and_rebuilt(sat: Emulator, synced: Path) -> None:
    metadata = rows(synced, "metadata")
    database = synced / "satdescarga.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database.write_bytes(b"basura" * 1000)
    before = traffic(sat)
    result = sync(sat, synced)
    assert result.exit_code == 0, result.output
    assert rows(synced, "metadata") == metadata
    assert (synced / "satdescarga.sqlite.dañada").read_bytes() == b"basura" * 1000
    assert any("apartada" in line for line in summary(result)["rebuilt"])  # type: ignore[attr-defined]
    assert traffic(sat)[1:] == before[1:]


def test_a_deleted_package_without_downloads_left_has_its_period_asked_again(
    sat: Emulator, synced: Path
) -> None:
    ledger = synced / ".satdescarga" / "ledger.sqlite"
    with sqlite3.connect(ledger) as db:
        (package,) = db.execute(
            "SELECT p.package_id FROM packages p JOIN requests r ON r.id = p.request_row "
            "JOIN windows w ON w.id = r.window_id WHERE w.job LIKE '%Metadata%' "
            "AND w.job LIKE '%emitidos%'"
        ).fetchone()
        db.execute("UPDATE packages SET attempts = 2 WHERE package_id = ?", (package,))
    (synced / "paquetes" / f"{package}.zip").unlink()
    _, requests, _ = traffic(sat)
    result = sync(sat, synced)
    assert result.exit_code == 0, result.output
    assert traffic(sat)[1] > requests  # its period asked for again (new criteria)
    stats = sat.stats()["rfcs"][RFC]["requests"]
    assert [p["downloads"] for r in stats for p in r["packages"] if p["id"] == package] == [1]
    assert any("su periodo se pide de nuevo" in line for line in summary(result)["rebuilt"])  # type: ignore[attr-defined]
    assert summary(result)["recovered"]
    check = CliRunner().invoke(main, ["status", "--out", str(synced), "--check"])
    assert check.exit_code == 0, check.output


def test_repair_marks_a_deleted_package_for_the_next_sync(sat: Emulator, synced: Path) -> None:
    package = sorted((synced / "paquetes").glob("*.zip"))[0]
    package.unlink()
    before = traffic(sat)
    repaired = CliRunner().invoke(main, ["status", "--out", str(synced), "--check", "--repair"])
    assert repaired.exit_code == 5, repaired.output
    assert "por descargar de nuevo" in repaired.output
    assert traffic(sat) == before
    assert sync(sat, synced).exit_code == 0 and package.is_file()


def test_a_folder_an_earlier_release_mixed_is_refused_naming_both(
    sat: Emulator, synced: Path
) -> None:
    ledger = synced / ".satdescarga" / "ledger.sqlite"
    with sqlite3.connect(ledger) as db:
        db.execute("DELETE FROM meta WHERE key LIKE 'folder_%'")
        (job,) = db.execute("SELECT job FROM windows LIMIT 1").fetchone()
        db.execute(
            'INSERT INTO windows (job, start, "end", state, created_at, updated_at) '
            "VALUES (?, '2020-01-01', '2020-01-31', 'done', '', '')",
            (job.replace(RFC, OTHER),),
        )
    before = traffic(sat)
    result = sync(sat, synced)
    assert result.exit_code == 2, result.output
    assert f"mezcla los datos de los RFC {RFC}, {OTHER}" in result.output
    assert traffic(sat) == before


def test_a_ledger_that_cannot_be_read_is_refused(sat: Emulator, synced: Path) -> None:
    ledger = synced / ".satdescarga" / "ledger.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)
    ledger.mkdir()  # what the operating system will not read as a file
    before = traffic(sat)
    result = sync(sat, synced)
    assert result.exit_code == 2, result.output
    assert "no se puede leer el ledger" in result.output and "permisos" in result.output
    assert traffic(sat) == before
