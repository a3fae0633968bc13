"""Issue 20, item 6: a local fault is not SAT's.

A full disk, a read-only folder or missing permissions stop a sync at once with one Spanish
sentence naming the path and exit code 6; the package on disk is kept, nothing is counted as
unreadable, lost or asked for again; the same command completes once the fault is gone.
`status`, `report` and `changes` work on a folder that cannot be written.

A full disk and a read-only folder are real here: a tmpfs of a few KB, or a read-only bind
mount, in a private user and mount namespace (`unshare -rm`), which works as root and as any
user where user namespaces are allowed, and leaves the machine's mounts alone. The commands run
in that namespace as subprocesses against the emulator of this process (the network is
shared). Faults that need no mount (a file where a folder must be) run in this process.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from satdescarga.cli import main
from satdescarga.emulator import Emulator
from satdescarga.errors import LocalFaultError, local_fault
from satdescarga.sync.ledger.sql import SqliteLedger
from satdescarga.sync.states import PackageState

from ..sync.conftest import (
    RFC,
    SINCE,
    credentials,
    emulator,
    requests_by_criteria,
)

MARCH = (f"{SINCE:%Y}-03-01", f"{SINCE:%Y}-03-31")
EXIT_LOCAL = 6


@pytest.fixture
def sat() -> Iterator[Emulator]:
    with emulator() as running:
        yield running


def sync_args(sat: Emulator, out: Path, *kinds: str) -> list[str]:
    return [
        "sync", *credentials(sat), *kinds, "--since", MARCH[0], "--until", MARCH[1],
        "--out", str(out), "--poll", "0.01", "--poll-cap", "0.2", "--jobs", "1",
    ]  # fmt: skip


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ledger_packages(out: Path) -> list[tuple[str, PackageState, int, str | None]]:
    ledger = SqliteLedger(out / ".satdescarga" / "ledger.sqlite", read_only=True)
    try:
        return [(p.package_id, p.state, p.attempts, p.reason) for p in ledger.packages()]
    finally:
        ledger.close()


def sat_downloads(sat: Emulator) -> dict[str, int]:
    return {
        package["id"]: package["downloads"]
        for request in sat.stats()["rfcs"].get(RFC, {}).get("requests", [])
        for package in request["packages"]
    }


def rejected_downloads(sat: Emulator) -> list[object]:
    rejections = sat.stats()["rfcs"].get(RFC, {}).get("rejected_requests", [])
    return [r for r in rejections if r.get("operation") == "Descargar"]


def assert_nothing_blamed_on_sat(sat: Emulator, out: Path) -> None:
    """No package lost or judged unreadable, none downloaded a third time (5008), no criteria
    sent twice (no window asked for again)."""
    for package_id, state, _, reason in ledger_packages(out):
        assert state is not PackageState.LOST, package_id
        assert "no se pudo leer" not in (reason or ""), reason
    assert rejected_downloads(sat) == []
    assert all(count <= 2 for count in sat_downloads(sat).values()), sat_downloads(sat)
    assert set(requests_by_criteria(sat).values()) <= {1}


# -- the sentence, the errno and the exit code --------------------------------------------------
def test_each_local_fault_is_one_sentence_naming_the_path(tmp_path: Path) -> None:
    full = local_fault(OSError(errno.ENOSPC, "No space left on device"), tmp_path / "a.zip",
                       needed=3 * 1024 * 1024)  # fmt: skip
    assert full is not None and full.errno == errno.ENOSPC and full.available is not None
    assert str(full).startswith(
        "falla local, no del SAT: no hay espacio en el disco para escribir "
        f"{tmp_path / 'a.zip'} (se necesitan unos 3.0 MB; hay "
    )
    assert str(full).endswith("libres); libere espacio y vuelva a ejecutar el mismo comando")
    read_only = local_fault(OSError(errno.EROFS, "Read-only file system", str(tmp_path / "x")))
    assert read_only is not None and "solo lectura" in str(read_only)
    assert read_only.path == str(tmp_path / "x")
    denied = local_fault(PermissionError(errno.EACCES, "Permission denied", "/datos/f"))
    assert denied is not None and "no hay permiso para usar /datos/f" in str(denied)
    quota = local_fault(OSError(errno.EDQUOT, "Disk quota exceeded", "/q"))
    assert quota is not None and "cuota" in str(quota)
    big = local_fault(OSError(errno.EFBIG, "File too large", "/big"))
    assert big is not None and "ulimit" in str(big)
    assert local_fault(OSError(errno.ENOENT, "No such file", "/nope")) is None
    other = local_fault(OSError(errno.ENOTDIR, "Not a directory", "/f"), any_os_error=True)
    assert other is not None and "no se pudo usar /f" in str(other)
    assert local_fault(ValueError("nada")) is None


def test_sqlite_full_read_only_and_cannot_open_are_local_faults(tmp_path: Path) -> None:
    database = tmp_path / "satdescarga.sqlite"
    for text, number in (
        ("database or disk is full", errno.ENOSPC),
        ("attempt to write a readonly database", errno.EROFS),
        ("disk I/O error", errno.EIO),
        ("unable to open database file", None),
    ):
        fault = local_fault(sqlite3.OperationalError(text), database)
        assert fault is not None and fault.errno == number and fault.path == str(database)
    wrapped = RuntimeError("export")
    wrapped.__cause__ = sqlite3.OperationalError("database or disk is full")
    assert isinstance(local_fault(wrapped, database), LocalFaultError)
    assert local_fault(sqlite3.OperationalError("no such table: x"), database) is None
    assert local_fault(sqlite3.DatabaseError("file is not a database"), database) is None
    directory = tmp_path / "a-folder.sqlite"
    directory.mkdir()
    try:
        sqlite3.connect(directory).execute("CREATE TABLE t (x)")
    except sqlite3.Error as exc:  # a real SQLite error, with its result code
        fault = local_fault(exc, directory)
        assert fault is not None and "no se pudo abrir" in str(fault)


# -- faults that need no mount: a file where the sync needs a folder ---------------------------
def test_packages_folder_that_cannot_be_written_stops_the_sync_with_exit_6(
    sat: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "paquetes").write_text("no soy una carpeta")
    first = invoke(*sync_args(sat, out, "--issued", "--metadata"))
    assert first.exit_code == EXIT_LOCAL, first.output
    assert "Error: falla local, no del SAT" in first.output
    assert str(out / "paquetes") in first.output
    assert "inesperado" not in first.output
    ((_, state, attempts, _),) = ledger_packages(out)
    assert state is PackageState.TO_DOWNLOAD and attempts == 1  # spent, counted, not lost
    assert sum(sat_downloads(sat).values()) == 1  # stopped at once: not tried again
    (out / "paquetes").unlink()
    second = invoke(*sync_args(sat, out, "--issued", "--metadata"))
    assert second.exit_code == 0, second.output
    assert_nothing_blamed_on_sat(sat, out)
    assert [state for _, state, _, _ in ledger_packages(out)] == [PackageState.READ]


def test_a_local_fault_is_news_for_an_unattended_run(sat: Emulator, tmp_path: Path) -> None:
    """--notify / --notify-command hear of an exit 6: nobody watches an unattended run."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "paquetes").write_text("no soy una carpeta")
    written = tmp_path / "aviso.json"
    script = tmp_path / "aviso.py"
    script.write_text(f"import sys; open({str(written)!r}, 'w').write(sys.stdin.read())\n")
    command = f"{sys.executable} {script}"
    done = invoke(*sync_args(sat, out, "--issued", "--metadata", "--notify-command", command))
    assert done.exit_code == EXIT_LOCAL, done.output
    told = json.loads(written.read_text(encoding="utf-8"))
    assert told["rfc"] == "EKU9003173C9" and str(out / "paquetes") in told["local_fault"]
    assert "falla local (no del SAT)" in told["news"][0]


def test_a_ledger_folder_that_cannot_be_made_stops_before_anything_is_sent(
    sat: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / ".satdescarga").write_text("no soy una carpeta")
    result = invoke(*sync_args(sat, out, "--issued", "--metadata"))
    assert result.exit_code == EXIT_LOCAL, result.output
    sentence = f"Error: falla local, no del SAT: no se pudo usar {out / '.satdescarga'}"
    assert sentence in result.output
    assert sat.stats()["tokens_issued"] == 0  # nothing was sent


def test_outputs_database_that_cannot_be_opened_keeps_the_package(
    sat: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (out / "satdescarga.sqlite").mkdir(parents=True)  # a folder where the database must be
    first = invoke(*sync_args(sat, out, "--issued", "--metadata", "--json"))
    assert first.exit_code == EXIT_LOCAL, first.output
    error = json.loads(first.output.splitlines()[-1])
    assert error["exit_code"] == EXIT_LOCAL and error["error_type"] == "LocalFaultError"
    assert str(out / "satdescarga.sqlite") in error["message"]
    ((package_id, state, attempts, _),) = ledger_packages(out)
    assert state is PackageState.DOWNLOADED and attempts == 1  # on disk, not unreadable
    assert (out / "paquetes" / f"{package_id}.zip").is_file()
    (out / "satdescarga.sqlite").rmdir()
    second = invoke(*sync_args(sat, out, "--issued", "--metadata"))
    assert second.exit_code == 0, second.output
    assert sat_downloads(sat) == {package_id: 1}  # read from disk: no download spent
    assert_nothing_blamed_on_sat(sat, out)


# -- a full disk and a read-only folder, for real (tmpfs, bind mount) --------------------------
@dataclass
class Step:
    code: int
    out: str
    err: str


DRIVER = """
import json, subprocess, sys
from click.testing import CliRunner
from satdescarga.cli import main
steps, results = json.load(open(sys.argv[1])), {}
for kind, name, args in steps:
    if kind == "sh":
        subprocess.run(args, shell=True, check=True)
        continue
    ran = CliRunner().invoke(main, args)
    results[name] = {"code": ran.exit_code, "out": ran.stdout, "err": ran.stderr}
json.dump(results, open(sys.argv[2], "w"))
"""


class Namespace:
    """Steps (shell lines and `satdescarga` commands) run by one Python process in a private
    user and mount namespace; each command's exit code and output come back."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.steps: list[tuple[str, str, object]] = []

    def sh(self, line: str) -> None:
        self.steps.append(("sh", "", line))

    def cli(self, name: str, *args: str) -> None:
        self.steps.append(("cli", name, list(args)))

    def run(self) -> dict[str, Step]:
        plan, results = self.folder / "steps.json", self.folder / "results.json"
        plan.write_text(json.dumps(self.steps))
        done = subprocess.run(
            ["unshare", "-rm", "--propagation", "private",
             sys.executable, "-c", DRIVER, str(plan), str(results)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return {name: Step(**step) for name, step in json.loads(results.read_text()).items()}


def _namespaces() -> str | None:
    """Why a real full or read-only disk cannot be made here (None: it can)."""
    if shutil.which("unshare") is None:
        return "no hay `unshare` (util-linux)"
    probe = Path(os.environ.get("TMPDIR", "/tmp"))
    try:
        done = subprocess.run(
            ["unshare", "-rm", "--propagation", "private", "sh", "-c",
             f"mount -t tmpfs -o size=16k tmpfs {shlex.quote(str(probe))}"],
            capture_output=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare no se pudo ejecutar ({exc})"
    if done.returncode != 0:
        return "este sistema no permite espacios de nombres de usuario y montaje (unshare -rm)"
    return None


NO_NAMESPACES = _namespaces()
needs_namespaces = pytest.mark.skipif(
    NO_NAMESPACES is not None,
    reason=f"un disco lleno o de solo lectura real necesita tmpfs y bind mounts: {NO_NAMESPACES}",
)


@needs_namespaces
def test_a_full_disk_stops_at_once_and_the_rerun_after_freeing_space_completes(
    sat: Emulator, tmp_path: Path
) -> None:
    """The issue's case: `--out` on a tmpfs that fills up mid-run (the ledger, a package or
    the outputs: wherever it happens, it is the disk's fault), then space is freed."""
    disk, copy = tmp_path / "disk", tmp_path / "copy"
    disk.mkdir()
    out = disk / "facturas"
    steps = Namespace(tmp_path)
    steps.sh(f"mount -t tmpfs -o size=400k tmpfs {shlex.quote(str(disk))}")
    whole = sync_args(sat, out)
    whole[whole.index("--jobs") + 1] = "4"
    steps.cli("full", *whole)
    steps.sh(f"mount -o remount,size=64m {shlex.quote(str(disk))}")  # space freed
    steps.cli("freed", *whole)
    steps.sh(f"cp -a {shlex.quote(str(out))} {shlex.quote(str(copy))}")
    result = steps.run()
    full = result["full"]
    assert full.code == EXIT_LOCAL, full.err
    (sentence,) = [line for line in full.err.splitlines() if line.startswith("Error:")]
    assert sentence.startswith("Error: falla local, no del SAT: no hay espacio en el disco para "
                               f"escribir {out}")  # fmt: skip
    assert "libres" in sentence and "inesperado" not in full.err + full.out
    assert result["freed"].code == 0, result["freed"].err
    assert_nothing_blamed_on_sat(sat, copy)
    assert {state for _, state, _, _ in ledger_packages(copy)} == {PackageState.READ}


@needs_namespaces
def test_a_full_packages_folder_names_the_package_and_what_it_needs(
    sat: Emulator, tmp_path: Path
) -> None:
    out, copy = tmp_path / "out", tmp_path / "copy"
    (out / "paquetes").mkdir(parents=True)
    steps = Namespace(tmp_path)
    steps.sh(f"mount -t tmpfs -o size=4k tmpfs {shlex.quote(str(out / 'paquetes'))}")
    steps.cli("full", *sync_args(sat, out, "--issued", "--xml"))
    steps.sh(f"cp -a {shlex.quote(str(out))} {shlex.quote(str(tmp_path / 'during'))}")
    steps.sh(f"umount {shlex.quote(str(out / 'paquetes'))}")
    steps.cli("freed", *sync_args(sat, out, "--issued", "--xml"))
    steps.sh(f"cp -a {shlex.quote(str(out))} {shlex.quote(str(copy))}")
    result = steps.run()
    full = result["full"]
    assert full.code == EXIT_LOCAL, full.err
    ((package_id, state, attempts, _),) = ledger_packages(tmp_path / "during")
    assert state is PackageState.TO_DOWNLOAD and attempts == 1
    assert f"para escribir {out / 'paquetes' / package_id}.zip (se necesitan unos " in full.err
    assert result["freed"].code == 0, result["freed"].err
    assert sat_downloads(sat) == {package_id: 2}  # the one cut by the full disk, and the rerun
    assert_nothing_blamed_on_sat(sat, copy)


@needs_namespaces
def test_a_full_disk_while_reading_keeps_the_package_and_downloads_nothing_again(
    sat: Emulator, tmp_path: Path
) -> None:
    out, copy = tmp_path / "out", tmp_path / "copy"
    staging = out / ".satdescarga" / "staging"
    staging.mkdir(parents=True)
    steps = Namespace(tmp_path)
    steps.sh(f"mount -t tmpfs -o size=4k tmpfs {shlex.quote(str(staging))}")
    steps.cli("full", *sync_args(sat, out, "--issued", "--xml"))
    steps.sh(f"umount {shlex.quote(str(staging))}")
    steps.cli("freed", *sync_args(sat, out, "--issued", "--xml"))
    steps.sh(f"cp -a {shlex.quote(str(out))} {shlex.quote(str(copy))}")
    result = steps.run()
    assert result["full"].code == EXIT_LOCAL, result["full"].err
    assert f"no hay espacio en el disco para escribir {staging}" in result["full"].err
    assert result["freed"].code == 0, result["freed"].err
    (package_id,) = sat_downloads(sat)
    assert sat_downloads(sat) == {package_id: 1}  # kept on disk, read on the rerun
    assert_nothing_blamed_on_sat(sat, copy)
    assert len(list((copy / RFC / "emitidos").rglob("*.xml"))) > 0


@pytest.mark.skipif(
    NO_NAMESPACES is not None and os.geteuid() == 0,
    reason=f"como root, chmod no impide escribir y no hay bind mounts: {NO_NAMESPACES}",
)
def test_status_report_and_changes_work_on_a_read_only_folder(
    sat: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = invoke(*sync_args(sat, out, "--issued", "--metadata"))
    assert done.exit_code == 0, done.output
    tokens = sat.stats()["tokens_issued"]
    views = [
        ("status", "status", "--out", str(out), "--json"),
        ("report", "report", "--out", str(out), "--json"),
        ("changes", "changes", "--out", str(out), "--json"),
    ]
    if NO_NAMESPACES is None:  # a read-only bind mount: read-only even for root
        steps = Namespace(tmp_path / "steps")
        steps.folder.mkdir()
        quoted = shlex.quote(str(out))
        steps.sh(f"mount --bind {quoted} {quoted} && mount -o remount,bind,ro {quoted}")
        for name, *args in views:
            steps.cli(name, *args)
        steps.cli("sync", *sync_args(sat, out, "--issued", "--metadata"))
        result = steps.run()
    else:  # not root: permissions are enough
        for path in [out, *out.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        try:
            result = {}
            for name, *args in [*views, ("sync", *sync_args(sat, out, "--issued", "--metadata"))]:
                ran = invoke(*args)
                result[name] = Step(ran.exit_code, ran.stdout, ran.stderr)
        finally:
            for path in [out, *out.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
    for name in ("status", "report", "changes"):
        assert result[name].code == 0, (name, result[name].err)
    status = json.loads(result["status"].out.splitlines()[-1])
    assert status["total"]["packages"] and status["total"]["documents"] > 0
    assert [json.loads(line)["metadata"] for line in result["report"].out.splitlines()]
    assert [json.loads(line)["change"] for line in result["changes"].out.splitlines()]
    sync = result["sync"]
    assert sync.code == EXIT_LOCAL, sync.err
    assert f"Error: falla local, no del SAT: no se puede escribir en {out}" in sync.err or (
        f"no hay permiso para usar {out}" in sync.err
    )
    assert sat.stats()["tokens_issued"] == tokens  # nothing was sent
