"""The ledger on its own (no engine, no SAT): what each call writes, in one transaction each, on
connections that all carry the SQLite settings."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from satdescarga.sync.ledger.migrate import sqlite_engine
from satdescarga.sync.ledger.sql import SqliteLedger
from satdescarga.sync.records import Ledger
from satdescarga.sync.states import (
    LedgerError,
    PackageState,
    RequestOrigin,
    RequestOutcome,
    WindowState,
)

JAN = (datetime(2024, 1, 1), datetime(2024, 1, 31, 23, 59, 59))
FEB = (datetime(2024, 2, 1), datetime(2024, 2, 29, 23, 59, 59))
HALVES = ((JAN[0], datetime(2024, 1, 16, 11, 59, 59)), (datetime(2024, 1, 16, 12), JAN[1]))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.sqlite"


@pytest.fixture
def ledger(path: Path) -> Iterator[SqliteLedger]:
    opened = SqliteLedger(path)
    try:
        yield opened
    finally:
        opened.close()


def events(path: Path, row: int) -> list[tuple[str, str | None]]:
    db = sqlite3.connect(path)
    try:
        sql = "SELECT kind, code FROM request_events WHERE request_row = ? ORDER BY rowid"
        return db.execute(sql, (row,)).fetchall()
    finally:
        db.close()


def accepted(ledger: Ledger, window_id: int, key: str = "k") -> int:
    row = ledger.begin_request(window_id, key, {"criteria": key})
    ledger.answer_request(row, f"ID-{row}", "5000", "Solicitud Aceptada", RequestOutcome.POLLING)
    return row


# -- windows -----------------------------------------------------------------------------------
def test_a_window_is_created_planned_once(ledger: SqliteLedger, path: Path) -> None:
    assert path.parent.is_dir()
    first = ledger.window("job-a", *JAN)
    assert first.state is WindowState.PLANNED and (first.start, first.end) == JAN
    ledger.set_window(first.id, WindowState.REQUESTED)
    again = ledger.window("job-a", *JAN)
    assert again.id == first.id and again.state is WindowState.REQUESTED  # not reset
    ledger.window("job-b", *FEB)
    ledger.window("job-a", *FEB)
    assert [(w.job, w.start) for w in ledger.windows()] == [
        ("job-a", JAN[0]), ("job-a", FEB[0]), ("job-b", FEB[0]),
    ]  # fmt: skip
    assert [w.job for w in ledger.windows(jobs=["job-b"])] == ["job-b"]
    assert [w.id for w in ledger.windows(state=WindowState.REQUESTED)] == [first.id]
    assert ledger.windows(jobs=[]) == []


def test_set_window_keeps_documents_unless_given(ledger: SqliteLedger) -> None:
    window = ledger.window("job", *JAN)
    ledger.set_window(window.id, WindowState.REQUESTED, note="reutiliza X")
    assert ledger.window_by_id(window.id).note == "reutiliza X"
    ledger.set_window(window.id, WindowState.DONE, documents=12)
    done = ledger.window_by_id(window.id)
    assert (done.state, done.documents, done.note) == (WindowState.DONE, 12, "")
    ledger.set_window(window.id, WindowState.RECOVERED, note="lost")
    assert ledger.window_by_id(window.id).documents == 12


@pytest.mark.parametrize("state", [WindowState.SPLIT, WindowState.RECOVERED])
def test_a_split_plans_the_parts_under_their_parent(
    ledger: SqliteLedger, state: WindowState
) -> None:
    parent = ledger.window("job", *JAN)
    ledger.split(parent.id, HALVES, "tope", state=state)
    replaced = ledger.window_by_id(parent.id)
    assert (replaced.state, replaced.note) == (state, "tope")
    children = ledger.windows(state=WindowState.PLANNED)
    assert [(c.start, c.end) for c in children] == list(HALVES)
    assert {c.parent_id for c in children} == {parent.id} and {c.job for c in children} == {"job"}


def test_a_split_keeps_a_part_already_in_the_ledger(ledger: SqliteLedger) -> None:
    parent = ledger.window("job", *JAN)
    existing = ledger.window("job", *HALVES[0])
    ledger.set_window(existing.id, WindowState.REQUESTED)
    ledger.split(parent.id, HALVES, "tope")
    assert ledger.window_by_id(existing.id).state is WindowState.REQUESTED
    assert ledger.window_by_id(existing.id).parent_id is None
    assert len(ledger.windows()) == 3


def test_a_window_is_split_only_as_split_or_recovered(ledger: SqliteLedger) -> None:
    window = ledger.window("job", *JAN)
    with pytest.raises(ValueError):
        ledger.split(window.id, HALVES, "x", state=WindowState.DONE)
    assert len(ledger.windows()) == 1


# -- requests ----------------------------------------------------------------------------------
def test_a_request_is_recorded_before_it_is_sent_then_answered(
    ledger: SqliteLedger, path: Path
) -> None:
    window = ledger.window("job", *JAN)
    row = ledger.begin_request(window.id, "k", {"b": 2, "a": 1})
    sending = ledger.request(row)
    assert sending.outcome is RequestOutcome.SENDING and sending.request_id is None
    assert sending.origin is RequestOrigin.SENT and sending.criteria == {"a": 1, "b": 2}
    ledger.answer_request(row, "ID-1", "5000", "Solicitud Aceptada", RequestOutcome.POLLING)
    answered = ledger.request(row)
    assert (answered.request_id, answered.cod_estatus) == ("ID-1", "5000")
    assert answered.next_poll_at is not None  # polled at once
    assert events(path, row) == [("send", None), ("query", "5000")]
    assert ledger.request_for(window.id) == answered
    assert ledger.requests(outcome=RequestOutcome.POLLING) == [answered]
    assert ledger.requests(jobs=["other"]) == []


def test_a_refused_request_is_not_polled(ledger: SqliteLedger) -> None:
    window = ledger.window("job", *JAN)
    row = ledger.begin_request(window.id, "k", {})
    ledger.answer_request(row, None, "5004", "No se encontró", RequestOutcome.REFUSED)
    assert ledger.request(row).next_poll_at is None


def test_sends_count_what_may_have_reached_sat(ledger: SqliteLedger) -> None:
    window = ledger.window("job", *JAN)
    unsent = ledger.begin_request(window.id, "k", {})
    ledger.set_outcome(unsent, RequestOutcome.UNSENT)
    uncertain = ledger.begin_request(window.id, "k", {})
    ledger.set_outcome(uncertain, RequestOutcome.UNCERTAIN)
    known = accepted(ledger, window.id)
    ledger.begin_request(window.id, "other", {})
    assert ledger.sends("k") == 2  # uncertain + accepted; the unsent one never reached SAT
    ledger.adopt_request(window.id, ledger.request(known))
    assert ledger.sends("k") == 2  # an adopted request is not a send


def test_an_adopted_request_is_sat_s_earlier_one(ledger: SqliteLedger) -> None:
    first = ledger.window("job", *JAN)
    row = accepted(ledger, first.id)
    known = ledger.reusable_request("k")
    assert known is not None and known.id == row
    adopted = ledger.request(ledger.adopt_request(first.id, known))
    assert adopted.origin is RequestOrigin.REUSED and adopted.outcome is RequestOutcome.POLLING
    assert (adopted.request_id, adopted.sent_at) == (known.request_id, known.sent_at)
    assert ledger.request_for(first.id) == adopted
    assert ledger.reusable_request("nothing") is None


def test_a_verification_and_its_packages_are_one_write(ledger: SqliteLedger, path: Path) -> None:
    window = ledger.window("job", *JAN)
    row = accepted(ledger, window.id)
    later = datetime(2030, 1, 1, tzinfo=datetime.now().astimezone().tzinfo)
    ledger.record_verify(row, 2, "5000", 0, "5000", "ok", RequestOutcome.POLLING, later)
    assert ledger.request(row).next_poll_at == later and ledger.packages() == []
    names = ("P_01", "P_02", "P_01")
    ledger.record_verify(row, 3, "5000", 7, "5000", "ok", RequestOutcome.FINISHED, None, names)
    finished = ledger.request(row)
    assert (finished.state, finished.cfdi_count, finished.next_poll_at) == (3, 7, None)
    packages = ledger.packages(request_row=row)
    assert [p.package_id for p in packages] == ["P_01", "P_02"]
    assert {p.state for p in packages} == {PackageState.TO_DOWNLOAD}
    assert all(p.attempts == 0 and p.issue_counts == {} for p in packages)
    assert [kind for kind, _ in events(path, row)] == ["send", "query", "verify", "verify"]


def test_a_package_named_again_keeps_its_first_request(ledger: SqliteLedger) -> None:
    window = ledger.window("job", *JAN)
    first, second = accepted(ledger, window.id, "a"), accepted(ledger, window.id, "b")
    for row in (first, second):
        ledger.record_verify(row, 3, "5000", 1, "5000", "", RequestOutcome.FINISHED, None, ("P",))
    assert [p.request_row for p in ledger.packages()] == [first]


# -- packages ----------------------------------------------------------------------------------
@pytest.fixture
def package(ledger: SqliteLedger) -> str:
    window = ledger.window("job", *JAN)
    row = accepted(ledger, window.id)
    ledger.record_verify(row, 3, "5000", 1, "5000", "", RequestOutcome.FINISHED, None, ("P_01",))
    return "P_01"


def test_a_package_is_downloaded_and_read(ledger: SqliteLedger, package: str) -> None:
    assert ledger.has_package(package) and not ledger.has_package("P_99")
    assert ledger.begin_download(package) == 1
    ledger.downloaded(package, 1234, "ab" * 32, "/out/paquetes/P_01.zip")
    (downloaded,) = ledger.packages(state=PackageState.DOWNLOADED)
    assert (downloaded.size, downloaded.path) == (1234, "/out/paquetes/P_01.zip")
    issues = [("reparada", "a.txt", 2, "fila 2"), ("omitida", "b.bin", None, "no es XML")]
    ledger.read_done(package, 10, issues, {"reparada": 5, "omitida": 1})
    (read,) = ledger.packages(state=PackageState.READ)
    assert (read.documents, read.issue_counts) == (10, {"omitida": 1, "reparada": 5})
    found = ledger.package_issues(package)
    assert [(i["kind"], i["entry"], i["line"]) for i in found] == [
        ("reparada", "a.txt", 2), ("omitida", "b.bin", None),
    ]  # fmt: skip
    ledger.downloaded(package, 1234, "ab" * 32, "/x.zip")  # `satdescarga download` again
    ledger.read_done(package, 10)  # read again: its issues are those of the last reading
    assert ledger.package_issues() == [] and ledger.packages()[0].issue_counts == {}


def test_an_unreadable_package_goes_back_or_is_lost(ledger: SqliteLedger, package: str) -> None:
    ledger.begin_download(package)
    ledger.downloaded(package, 1, "x", "/p.zip")
    ledger.retry_package(package, "no se pudo leer")
    back = ledger.packages()[0]
    assert (back.state, back.path, back.reason) == (
        PackageState.TO_DOWNLOAD,
        None,
        "no se pudo leer",
    )
    assert ledger.begin_download(package) == 2  # attempts survive
    ledger.lost(package, "5008")
    assert (ledger.packages()[0].state, ledger.packages()[0].reason) == (PackageState.LOST, "5008")


def test_packages_filter_by_job_state_and_request(ledger: SqliteLedger, package: str) -> None:
    assert [p.package_id for p in ledger.packages(jobs=["job"])] == [package]
    assert ledger.packages(jobs=["other"]) == []
    assert ledger.packages(state=PackageState.READ) == []
    assert ledger.packages(request_row=999) == []


# -- integrity, tokens, settings ---------------------------------------------------------------
def test_rows_that_do_not_exist_are_ledger_errors(ledger: SqliteLedger) -> None:
    with pytest.raises(LedgerError, match="la ventana 42"):
        ledger.set_window(42, WindowState.DONE)
    with pytest.raises(LedgerError, match="la solicitud 42"):
        ledger.set_outcome(42, RequestOutcome.FINISHED)
    with pytest.raises(LedgerError, match="el paquete X"):
        ledger.lost("X", "why")
    with pytest.raises(LedgerError):
        ledger.begin_download("X")


def test_foreign_keys_are_enforced(ledger: SqliteLedger) -> None:
    with pytest.raises(IntegrityError):
        ledger.begin_request(999, "k", {})
    assert ledger.requests() == []  # and the transaction left nothing behind


def test_a_token_s_validity_is_recorded_never_the_token(ledger: SqliteLedger, path: Path) -> None:
    start = datetime(2024, 1, 1, 12)
    ledger.record_token("cfdi", start, start + timedelta(minutes=5))
    ledger.record_token("cfdi", start + timedelta(hours=1), start + timedelta(hours=1, minutes=5))
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT * FROM tokens").fetchall() == [
            ("cfdi", "2024-01-01T13:00:00", "2024-01-01T13:05:00")
        ]
    finally:
        db.close()


def test_writes_from_several_threads_are_serialized(ledger: SqliteLedger) -> None:
    """Tokens are recorded from the pool's threads while the engine writes its states."""
    window = ledger.window("job", *JAN)
    errors: list[BaseException] = []

    def tokens(n: int) -> None:
        try:
            for i in range(40):
                ledger.record_token(f"s{n}", datetime(2024, 1, 1), datetime(2024, 1, 1, 0, i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=tokens, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    rows = [accepted(ledger, window.id, f"k{i}") for i in range(40)]
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(rows)) == 40


def test_every_connection_has_wal_full_sync_and_foreign_keys(path: Path) -> None:
    SqliteLedger(path).close()
    engine = sqlite_engine(path)
    try:
        connections = [engine.connect() for _ in range(3)]  # three pooled DBAPI connections
        for connection in connections:
            pragmas = [
                connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys")
            ]
            assert pragmas == ["wal", 2, 1]  # synchronous 2 = FULL
        for connection in connections:
            connection.close()
    finally:
        engine.dispose()


def test_a_closed_ledger_leaves_one_file(path: Path) -> None:
    ledger = SqliteLedger(path)
    ledger.window("job", *JAN)
    ledger.close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.sqlite"]  # WAL checkpointed


# -- reads remembered while a run holds the ledger -----------------------------------------------
def _reads(ledger: Ledger, window_id: int, row: int) -> list[object]:
    """Every read the engine makes, as the ledger answers it now."""
    return [
        ledger.windows(),
        [ledger.windows(["job"], state) for state in WindowState],
        ledger.window_by_id(window_id),
        ledger.start_of("job"),
        ledger.view_rules(["job"]),
        ledger.requests(),
        [ledger.requests(["job"], outcome) for outcome in RequestOutcome],
        ledger.request(row),
        ledger.request_for(window_id),
        ledger.reusable_request("k"),
        ledger.sends("k"),
        ledger.packages(),
        [ledger.packages(["job"], state) for state in PackageState],
        ledger.has_package("P_01"),
    ]


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "read-back"])
def test_a_remembered_read_is_forgotten_by_every_write_that_changes_it(
    ledger: SqliteLedger, path: Path, returning: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside `remembering`, after each kind of write, every read equals what another ledger on
    the same file reads: no write leaves a stale answer behind (whether the database hands
    changed rows back with the write, or they are read again)."""
    if not returning:
        monkeypatch.setattr(ledger, "_returns", lambda db: False)
    fresh = SqliteLedger(path)
    try:
        window = ledger.window("job", *JAN)
        row = accepted(ledger, window.id)
        with ledger.remembering():

            def same() -> None:
                assert _reads(ledger, window.id, row) == _reads(fresh, window.id, row)

            writes: list[Callable[[], object]] = [
                lambda: ledger.record_start("job", datetime(2023, 12, 1)),
                lambda: ledger.record_view_rules("job", {"label": "x", "first": "2024-01-01"}),
                lambda: ledger.record_view_rules("job", {"label": "y", "first": "2024-02-01"}),
                lambda: ledger.window("job", *FEB),
                lambda: ledger.defer_window(window.id, datetime(2030, 1, 1), "5011"),
                lambda: ledger.set_window(window.id, WindowState.REQUESTED),
                lambda: ledger.begin_request(window.id, "k", {"criteria": "k"}),  # row + 1
                lambda: ledger.answer_request(row + 1, "ID-2", "5000", "", RequestOutcome.POLLING),
                lambda: ledger.begin_request(window.id, "k", {"criteria": "k"}),  # row + 2
                lambda: ledger.set_outcome(row + 2, RequestOutcome.UNSENT),
                lambda: ledger.adopt_request(window.id, ledger.request(row)),
                lambda: ledger.record_verify(
                    row, 3, "5000", 1, "5000", "", RequestOutcome.FINISHED, None, ("P_01",)
                ),
                lambda: ledger.begin_download("P_01"),
                lambda: ledger.download_not_made("P_01"),
                lambda: ledger.begin_download("P_01"),
                lambda: ledger.downloaded("P_01", 10, "ab", "/p.zip"),
                lambda: ledger.retry_package("P_01", "ilegible"),
                lambda: ledger.begin_download("P_01"),
                lambda: ledger.downloaded("P_01", 10, "ab", "/p.zip"),
                lambda: ledger.read_done("P_01", 3),
                lambda: ledger.set_window(window.id, WindowState.DONE, documents=3),
                lambda: ledger.split(ledger.window("job", *FEB).id, HALVES, "5008"),
            ]
            same()
            for write in writes:
                write()
                same()
    finally:
        fresh.close()


def test_writes_together_are_one_transaction_and_roll_back_whole(
    ledger: SqliteLedger, path: Path
) -> None:
    """`together`: nothing is visible to another reader until the block ends; an exception
    rolls every write of the block back, and the remembered reads follow."""
    fresh = SqliteLedger(path)
    try:
        window = ledger.window("job", *JAN)
        row = accepted(ledger, window.id)
        with ledger.remembering():
            with ledger.together():
                ledger.set_window(window.id, WindowState.REQUESTED)
                ledger.record_verify(
                    row, 3, "5000", 1, "5000", "", RequestOutcome.FINISHED, None, ("P_01",)
                )
                assert [p.package_id for p in ledger.packages(["job"])] == ["P_01"]  # its own
                assert fresh.packages() == [] and fresh.windows()[0].state is WindowState.PLANNED
            assert _reads(ledger, window.id, row) == _reads(fresh, window.id, row)
            with pytest.raises(RuntimeError), ledger.together():
                ledger.set_window(window.id, WindowState.DONE, documents=3)
                ledger.begin_download("P_01")
                assert ledger.windows(["job"])[0].state is WindowState.DONE
                raise RuntimeError("a crash here")
            assert ledger.windows(["job"])[0].state is WindowState.REQUESTED
            assert ledger.packages(["job"])[0].attempts == 0
            assert _reads(ledger, window.id, row) == _reads(fresh, window.id, row)
    finally:
        fresh.close()


def test_reads_are_remembered_only_inside_the_block(ledger: SqliteLedger, path: Path) -> None:
    window = ledger.window("job", *JAN)
    other = SqliteLedger(path)  # a writer the remembering ledger does not hear of
    try:
        with ledger.remembering():
            assert ledger.windows()[0].state is WindowState.PLANNED
            other.set_window(window.id, WindowState.FAILED, "x")
            assert ledger.windows()[0].state is WindowState.PLANNED  # from memory
            ledger.record_token("cfdi", datetime(2024, 1, 1), datetime(2024, 1, 1, 0, 5))
            assert ledger.windows()[0].state is WindowState.PLANNED  # tokens: not a window
            february = ledger.window("job", *FEB)
            assert [w.state for w in ledger.windows()] == [WindowState.FAILED, WindowState.PLANNED]
        other.defer_window(february.id, datetime(2030, 1, 1), "más tarde")
        assert ledger.windows()[1].note == "más tarde"  # outside the block: read each time
    finally:
        other.close()
