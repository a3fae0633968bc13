# Mixing kinds of state on purpose (a state of one kind never matches another kind's move):
# mypy: disable-error-code="type-var,comparison-overlap,list-item"
"""The states of the ledger and the transitions between them: every allowed move works through
the ledger, every other one is refused (IllegalTransition) and leaves the row as it was."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from satdescarga.errors import SatError
from satdescarga.sync.ledger.sql import SqliteLedger
from satdescarga.sync.states import (
    LABELS,
    TRANSITIONS,
    IllegalTransition,
    LedgerError,
    PackageState,
    RequestOutcome,
    State,
    WindowState,
    allowed,
    check,
    sources,
)

JAN = (datetime(2024, 1, 1), datetime(2024, 1, 31, 23, 59, 59))
ALL: dict[type[State], list[State]] = {
    WindowState: list(WindowState),
    RequestOutcome: list(RequestOutcome),
    PackageState: list(PackageState),
}


def pairs(legal: bool) -> list[tuple[State, State]]:
    return [
        (old, new)
        for kind, states in ALL.items()
        for old in states
        for new in states
        if allowed(old, new) is legal
    ]


def ids(pair: tuple[State, State]) -> str:
    return f"{type(pair[0]).__name__}:{pair[0].value}->{pair[1].value}"


# -- the table itself ---------------------------------------------------------------------------
def test_stored_values_are_those_of_the_first_release() -> None:
    """Existing ledgers hold these strings: renaming one would orphan their rows."""
    assert [s.value for s in WindowState] == [
        "planned", "requested", "split", "recovered", "empty", "done", "failed",
    ]  # fmt: skip
    assert [s.value for s in RequestOutcome] == [
        "sending", "uncertain", "unsent", "pending", "finished", "refused", "failed", "expired",
        "stuck",
    ]  # fmt: skip
    assert [s.value for s in PackageState] == ["pending", "downloaded", "read", "lost"]
    # "pending" is two different things, told apart by type:
    assert RequestOutcome.POLLING == PackageState.TO_DOWNLOAD == "pending"
    assert RequestOutcome.POLLING.label == "en proceso"
    assert PackageState.TO_DOWNLOAD.label == "por descargar"


def test_every_state_has_a_spanish_label() -> None:
    for states in ALL.values():
        for state in states:
            assert state.label == LABELS[type(state)][state] and state.label
    assert WindowState.DONE.label == "completa" and PackageState.READ.label == "leído"
    assert len({s.label for s in RequestOutcome}) == len(RequestOutcome)


def test_the_table_names_only_states_of_its_own_kind() -> None:
    for kind, table in TRANSITIONS.items():
        for old, targets in table.items():
            assert old is None or isinstance(old, kind)
            assert targets and all(isinstance(new, kind) for new in targets)
        assert table[None], f"{kind.__name__}: nothing can be created"


def test_new_rows_start_where_the_engine_starts_them() -> None:
    assert allowed(None, WindowState.PLANNED) and not allowed(None, WindowState.DONE)
    assert allowed(None, RequestOutcome.SENDING) and allowed(None, RequestOutcome.POLLING)
    assert not allowed(None, RequestOutcome.FINISHED)
    assert allowed(None, PackageState.TO_DOWNLOAD) and not allowed(None, PackageState.READ)


def test_states_of_another_kind_never_match() -> None:
    assert WindowState.FAILED == RequestOutcome.FAILED  # StrEnum: both are "failed"
    assert allowed(WindowState.FAILED, WindowState.SPLIT)
    assert not allowed(RequestOutcome.FAILED, WindowState.SPLIT)
    # The ledger's one-statement moves match a row only in the states it may leave (by kind):
    assert sources(RequestOutcome.POLLING) == {"sending", "pending", "stuck"}
    assert sources(PackageState.TO_DOWNLOAD) == {"downloaded", "read"}  # read: its ZIP gone
    for kind, states in ALL.items():
        for new in states:
            assert sources(new) == {old.value for old in kind if allowed(old, new)}


def test_final_states_go_nowhere() -> None:
    final = [WindowState.SPLIT, WindowState.RECOVERED, WindowState.EMPTY]
    final += [RequestOutcome.FINISHED, RequestOutcome.REFUSED, RequestOutcome.EXPIRED]
    final += [RequestOutcome.UNSENT, RequestOutcome.UNCERTAIN, RequestOutcome.FAILED]
    for old in final:
        assert not any(allowed(old, new) for new in ALL[type(old)]), old


def test_an_illegal_transition_is_a_typed_sat_error() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check(7, WindowState.DONE, WindowState.PLANNED)
    error = caught.value
    assert isinstance(error, LedgerError) and isinstance(error, SatError)
    assert (error.kind, error.row, error.old, error.new) == (
        WindowState, 7, WindowState.DONE, WindowState.PLANNED,
    )  # fmt: skip
    assert "la ventana 7" in str(error) and "done -> planned" in str(error)
    assert check(7, WindowState.PLANNED, WindowState.REQUESTED) is WindowState.REQUESTED


# -- through the ledger ----------------------------------------------------------------------
class Rows:
    """A ledger with one window, one request and one package; `force` puts a row in any state
    (straight SQL, as a crash or an older release could have left it)."""

    def __init__(self, path: Path, template: Path | None = None) -> None:
        self.path = path
        if template is not None:  # a copy of a ledger made alike (migrating one costs more)
            shutil.copyfile(template, path)
            self.ledger = SqliteLedger(path)
            self.window, self.request, self.package = 1, 1, "P_01"
            return
        self.ledger = SqliteLedger(path)
        self.window = self.ledger.window("job", *JAN).id
        self.request = self.ledger.begin_request(self.window, "key", {"k": 1})
        self.ledger.record_verify(
            self.request, 3, "5000", 1, "5000", "ok", RequestOutcome.POLLING, None, ("P_01",)
        )
        self.package = "P_01"

    def force(self, state: State) -> None:
        table, column, key, value = {
            WindowState: ("windows", "state", "id", self.window),
            RequestOutcome: ("requests", "outcome", "id", self.request),
            PackageState: ("packages", "state", "package_id", self.package),
        }[type(state)]
        db = sqlite3.connect(self.path)
        with db:
            db.execute(
                f"UPDATE {table} SET {column} = ?, updated_at = 'then' WHERE {key} = ?",
                (state.value, value),
            )
        db.close()

    def row(self, state: State) -> tuple[Any, ...]:
        table, key, value = {
            WindowState: ("windows", "id", self.window),
            RequestOutcome: ("requests", "id", self.request),
            PackageState: ("packages", "package_id", self.package),
        }[type(state)]
        db = sqlite3.connect(self.path)
        try:
            return tuple(db.execute(f"SELECT * FROM {table} WHERE {key} = ?", (value,)).fetchone())
        finally:
            db.close()

    def counts(self) -> tuple[int, ...]:
        db = sqlite3.connect(self.path)
        try:
            tables = ("windows", "requests", "request_events", "packages", "package_issues")
            return tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables)
        finally:
            db.close()

    def move(self, new: State) -> Callable[[], None]:
        """The ledger call that moves the row to `new`."""
        ledger = self.ledger
        if isinstance(new, WindowState):
            if new in (WindowState.SPLIT, WindowState.RECOVERED):
                parts = ((JAN[0], datetime(2024, 1, 15)), (datetime(2024, 1, 16), JAN[1]))
                return lambda: ledger.split(self.window, parts, "why", state=new)
            return lambda: ledger.set_window(self.window, new, note="why", documents=3)
        if isinstance(new, RequestOutcome):
            if new is RequestOutcome.FINISHED:
                return lambda: ledger.record_verify(
                    self.request, 3, "5000", 2, "5000", "ok", new, None, ("P_01", "P_02")
                )
            return lambda: ledger.set_outcome(self.request, new)
        return {
            PackageState.TO_DOWNLOAD: lambda: ledger.retry_package(self.package, "why"),
            PackageState.DOWNLOADED: lambda: ledger.downloaded(self.package, 10, "ab", "p.zip"),
            PackageState.READ: lambda: ledger.read_done(
                self.package, 4, [("reparada", "a.txt", 2, "x")], {"reparada": 1}
            ),
            PackageState.LOST: lambda: ledger.lost(self.package, "why"),
        }[new]

    def current(self, kind: type[State]) -> State:
        if kind is WindowState:
            return self.ledger.window_by_id(self.window).state
        if kind is RequestOutcome:
            return self.ledger.request(self.request).outcome
        return next(p.state for p in self.ledger.packages() if p.package_id == self.package)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ledger with its window, request and package, made once (then copied)."""
    made = Rows(tmp_path_factory.mktemp("plantilla") / "ledger.sqlite")
    assert (made.window, made.request, made.package) == (1, 1, "P_01")
    made.ledger.close()  # checkpointed: the file alone is the whole ledger
    return made.path


@pytest.fixture
def rows(tmp_path: Path, template: Path) -> Iterator[Rows]:
    made = Rows(tmp_path / "ledger.sqlite", template)
    try:
        yield made
    finally:
        made.ledger.close()


@pytest.mark.parametrize("pair", pairs(legal=True), ids=ids)
def test_every_allowed_transition_works_through_the_ledger(
    rows: Rows, pair: tuple[State, State]
) -> None:
    old, new = pair
    rows.force(old)
    rows.move(new)()
    assert rows.current(type(new)) is new


@pytest.mark.parametrize("pair", pairs(legal=False), ids=ids)
def test_every_other_transition_is_refused_and_changes_nothing(
    rows: Rows, pair: tuple[State, State]
) -> None:
    old, new = pair
    rows.force(old)
    before, counts = rows.row(old), rows.counts()
    with pytest.raises(IllegalTransition) as caught:
        rows.move(new)()
    assert (caught.value.old, caught.value.new) == (old, new)
    assert rows.row(old) == before and rows.counts() == counts  # nothing written, at all
    assert rows.current(type(old)) is old


def test_a_refused_verification_names_no_package(rows: Rows) -> None:
    """SAT's answer and its packages are one transaction: refused together."""
    rows.force(RequestOutcome.EXPIRED)
    with pytest.raises(IllegalTransition):
        rows.ledger.record_verify(
            rows.request, 3, "5000", 1, "5000", "ok", RequestOutcome.FINISHED, None, ("P_09",)
        )
    assert not rows.ledger.has_package("P_09")


def test_a_refused_split_plans_no_part(rows: Rows) -> None:
    rows.force(WindowState.DONE)
    parts = ((JAN[0], datetime(2024, 1, 15)), (datetime(2024, 1, 16), JAN[1]))
    with pytest.raises(IllegalTransition):
        rows.ledger.split(rows.window, parts, "why")
    assert [w.id for w in rows.ledger.windows()] == [rows.window]


def test_a_state_this_release_does_not_know_is_a_ledger_error(rows: Rows) -> None:
    db = sqlite3.connect(rows.path)
    with db:
        db.execute("UPDATE windows SET state = 'archived'")
    db.close()
    with pytest.raises(LedgerError, match="archived"):
        rows.ledger.windows()
