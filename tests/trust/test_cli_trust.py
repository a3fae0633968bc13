"""Trust, through the command line against the emulator: dates, filters, verify, download,
validation before anything is sent, and one run per ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from satdescarga.cli import main
from satdescarga.emulator import Emulator
from satdescarga.sync.lock import LedgerLock

from ..sync.conftest import FIEL_DIR, PASSWORD_FILE, RFC, SINCE, emulator

MARCH = (f"{SINCE:%Y}-03-01", f"{SINCE:%Y}-03-31")


@pytest.fixture
def sat() -> Iterator[Emulator]:
    with emulator() as running:
        yield running


def run(sat: Emulator | None, command: str, *args: str) -> Result:
    credentials = [
        "--cer",
        str(FIEL_DIR / "EKU9003173C9.cer"),
        "--key",
        str(FIEL_DIR / "EKU9003173C9.key"),
        "--password-file",
        str(PASSWORD_FILE),
        "--endpoint-base",
        sat.base_url if sat else "http://127.0.0.1:9",
    ]
    return CliRunner().invoke(main, [command, *credentials, *args])


def sent(sat: Emulator) -> list[dict[str, object]]:
    return list(sat.stats()["rfcs"].get(RFC, {}).get("requests", []))


def tokens(sat: Emulator) -> int:
    return int(sat.stats()["tokens_issued"])


# -- 1. one date option: a bare --until is the whole day ------------------------------------
def test_query_until_a_date_includes_that_whole_day(sat: Emulator) -> None:
    result = run(sat, "query", "--since", MARCH[0], "--until", MARCH[1], "--json")
    assert result.exit_code == 0, result.output
    criteria = sent(sat)[0]["criteria"]
    assert isinstance(criteria, dict)
    assert (
        criteria["fecha_inicial"].endswith("T00:00:00")
        and criteria["fecha_final"] == f"{MARCH[1]}T23:59:59"
    )


def test_a_time_given_is_kept_and_a_bad_date_is_refused_in_spanish(sat: Emulator) -> None:
    result = run(sat, "query", "--since", MARCH[0], "--until", f"{MARCH[1]}T12:30:00", "--json")
    assert result.exit_code == 0, result.output
    assert sent(sat)[0]["criteria"]["fecha_final"] == f"{MARCH[1]}T12:30:00"  # type: ignore[index]
    bad = run(sat, "query", "--since", "31/03/2025", "--until", MARCH[1])
    assert bad.exit_code == 2 and "no es una fecha" in bad.output and "AAAA-MM-DD" in bad.output


# -- 3. a filter SAT cannot honour is refused, never changed ----------------------------------
@pytest.mark.parametrize("status", ["cancelado", "todos"])
def test_sync_received_xml_with_another_status_is_refused(
    sat: Emulator, tmp_path: Path, status: str
) -> None:
    out = tmp_path / "out"
    result = run(
        sat, "sync", "--received", "--xml", "--status", status,
        "--since", MARCH[0], "--until", MARCH[1], "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"--status {status}" in result.output and "--metadata" in result.output
    assert not out.exists() and sent(sat) == [] and tokens(sat) == 0


def test_sync_received_xml_default_asks_for_active_and_says_so(
    sat: Emulator, tmp_path: Path
) -> None:
    result = run(
        sat, "sync", "--received", "--xml", "--since", MARCH[0], "--until", MARCH[1],
        "--out", str(tmp_path), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.splitlines()[-1])
    assert any("solo vigentes" in note for note in summary["notes"])
    assert {r["criteria"]["estado_comprobante"] for r in sent(sat)} == {"Vigente"}  # type: ignore[index]


def test_query_received_xml_cancelled_is_refused_before_sending(sat: Emulator) -> None:
    result = run(sat, "query", "--received", "--xml", "--status", "cancelado",
                 "--since", MARCH[0], "--until", MARCH[1])  # fmt: skip
    assert result.exit_code == 2 and "--status cancelado" in result.output
    assert tokens(sat) == 0


# -- 10. sync validates like query: exit 2, each problem once, nothing created ----------------
def test_sync_with_reversed_dates_creates_nothing(sat: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(sat, "sync", "--since", MARCH[1], "--until", MARCH[0], "--out", str(out))
    assert result.exit_code == 2, result.output
    assert result.output.count("anterior a su fin") == 1
    assert not out.exists() and tokens(sat) == 0


def test_sync_with_old_dates_and_a_bad_rfc_reports_each_problem_once(
    sat: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run(
        sat, "sync", "--since", "2001-01-01", "--until", "2001-02-01", "--counterpart", "XXX",
        "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.count("seis años") == 1 and result.output.count("'XXX'") == 1
    assert not out.exists() and tokens(sat) == 0


# -- 5. verify shows SAT's answer and fails on anything but an accepted one -------------------
def test_verify_an_unknown_request_shows_5004_and_exits_1(sat: Emulator) -> None:
    result = run(sat, "verify", "00000000-0000-0000-0000-000000000000")
    assert result.exit_code == 1, result.output
    assert "CodEstatus: 5004" in result.output and "EstadoSolicitud: 0" in result.output
    as_json = run(sat, "verify", "00000000-0000-0000-0000-000000000000", "--json").stdout
    data = json.loads(as_json.splitlines()[0])
    assert data["sat_code"] == "5004" and data["sat_message"]


def test_verify_error_no_controlado_exits_1(sat: Emulator) -> None:
    queried = run(sat, "query", "--since", MARCH[0], "--until", MARCH[1], "--json")
    request_id = json.loads(queried.output)["request_id"]
    sat.set_faults("verifica=error404")
    result = run(sat, "verify", request_id)
    assert result.exit_code == 1, result.output
    assert "CodEstatus: 404" in result.output


def test_verify_a_finished_request_exits_0(sat: Emulator) -> None:
    queried = run(sat, "query", "--since", MARCH[0], "--until", MARCH[1], "--json")
    request_id = json.loads(queried.output)["request_id"]
    result = run(sat, "verify", request_id)
    assert result.exit_code == 0, result.output
    assert "CodEstatus: 5000" in result.output and "EstadoSolicitud: 3 (Terminada)" in result.output


# -- 6. download never re-spends a package already on disk ------------------------------------
def test_download_skips_a_package_on_disk_and_force_warns(sat: Emulator, tmp_path: Path) -> None:
    queried = run(sat, "query", "--since", MARCH[0], "--until", MARCH[1], "--json")
    request_id = json.loads(queried.output)["request_id"]
    package = json.loads(run(sat, "verify", request_id, "--json").output)["package_ids"][0]
    first = run(sat, "download", package, "--out", str(tmp_path))
    assert first.exit_code == 0, first.output
    again = run(sat, "download", package, "--out", str(tmp_path))
    assert again.exit_code == 0 and "ya está en disco" in again.output
    downloads = [p["downloads"] for r in sent(sat) for p in r["packages"]]  # type: ignore[attr-defined]
    assert downloads == [1]
    forced = run(sat, "download", package, "--out", str(tmp_path), "--force")
    assert forced.exit_code == 0 and "gasta una de las 2 descargas" in forced.output
    downloads = [p["downloads"] for r in sent(sat) for p in r["packages"]]  # type: ignore[attr-defined]
    assert downloads == [2]


# -- 2. one run per ledger ---------------------------------------------------------------------
def test_a_second_run_on_a_busy_ledger_exits_1_naming_the_first(
    sat: Emulator, tmp_path: Path
) -> None:
    ledger = tmp_path / ".satdescarga" / "ledger.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(ledger)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        args = ("--since", MARCH[0], "--until", MARCH[1], "--out", str(tmp_path))
        result = run(sat, "sync", *args)
        assert result.exit_code == 1, result.output
        assert f"PID {holder.pid}" in result.output and "--wait-lock" in result.output
        assert tokens(sat) == 0
        package_dir = tmp_path / "paquetes"
        busy = run(sat, "download", "X_01", "--out", str(package_dir))
        assert busy.exit_code == 1 and f"PID {holder.pid}" in busy.output
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the lock of the killed process: the next run goes ahead.
    result = run(sat, "sync", *args)
    assert result.exit_code == 0, result.output


HOLD_LOCK = """
import sys, time
from pathlib import Path
from satdescarga.sync.lock import LedgerLock
with LedgerLock(Path(sys.argv[1]), "sync"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_wait_blocks_until_the_other_run_ends(sat: Emulator, tmp_path: Path) -> None:
    ledger = tmp_path / ".satdescarga" / "ledger.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK.replace("60", "1"), str(ledger)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        args = ("--since", MARCH[0], "--until", MARCH[1], "--out", str(tmp_path), "--wait-lock")
        result = run(sat, "sync", *args)
        assert result.exit_code == 0, result.output
        assert "esperando a que termine" in result.output and f"PID {holder.pid}" in result.output
        assert holder.poll() is not None  # it ran only once the holder was gone
    finally:
        holder.kill()
        holder.wait()
    assert not (ledger.parent / "ledger.sqlite.owner").exists()


def test_the_lock_owner_file_holds_no_secret(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    with LedgerLock(ledger, "sync"):
        owner = (tmp_path / "ledger.sqlite.owner").read_text()
    assert json.loads(owner)["pid"] == os.getpid() and "password" not in owner


# -- 17. a truncated download is a network problem: exit 4, nothing left on disk ---------------
def test_a_truncated_download_exits_4(sat: Emulator, tmp_path: Path) -> None:
    queried = run(sat, "query", "--since", MARCH[0], "--until", MARCH[1], "--json")
    request_id = json.loads(queried.output)["request_id"]
    package = json.loads(run(sat, "verify", request_id, "--json").output)["package_ids"][0]
    sat.set_faults("descargar=truncate*1")
    result = run(sat, "download", package, "--out", str(tmp_path))
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []


def test_two_downloads_into_one_plain_folder_never_run_at_once(
    sat: Emulator, tmp_path: Path
) -> None:
    from satdescarga.cli.calls import download_lock_path

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(download_lock_path(tmp_path))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        busy = run(sat, "download", "X_01", "--out", str(tmp_path))
        assert busy.exit_code == 1 and f"PID {holder.pid}" in busy.output
        assert tokens(sat) == 0 and list(tmp_path.iterdir()) == []
    finally:
        holder.kill()
        holder.wait()
