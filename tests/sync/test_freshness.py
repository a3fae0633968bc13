"""How current a job's view is, as pure functions of its windows, its rules and the clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from satdescarga.sync.freshness import ViewRules, reach, since_text, view_of
from satdescarga.sync.records import Window
from satdescarga.sync.states import WindowPurpose, WindowState

D = datetime
P, S, R = WindowPurpose.PERIOD, WindowPurpose.SWEEP, WindowPurpose.RECHECK
DONE, REQUESTED, FAILED = WindowState.DONE, WindowState.REQUESTED, WindowState.FAILED
SINCE = D(2025, 2, 1)
NOW = D(2025, 3, 10, 12)
RULES = ViewRules(timedelta(days=3), timedelta(hours=6), timedelta(hours=72), None, SINCE)


def w(
    id_: int,
    start: datetime,
    end: datetime,
    purpose: WindowPurpose,
    state: WindowState,
    parent: int | None = None,
) -> Window:
    return Window(id_, "job", start, end, parent, state, "", 0, purpose)


SETTLED = w(1, SINCE, D(2025, 3, 6, 23, 59, 59), P, DONE)


def test_metadata_is_complete_as_of_its_newest_finished_round() -> None:
    old = w(2, D(2025, 3, 7), NOW - timedelta(hours=12), S, DONE)
    held = w(3, D(2025, 3, 7), NOW - timedelta(hours=6), S, REQUESTED)  # SAT sits on it
    newest = w(4, D(2025, 3, 7), NOW, S, DONE)
    view = view_of("emitidos metadata", False, RULES, [SETTLED, old, held], SINCE, NOW)
    assert view.complete_as_of == old.end and view.age == timedelta(hours=12)
    assert not view.current and not view.stale and view.rounds_in_flight == 1
    view = view_of("emitidos metadata", False, RULES, [SETTLED, old, held, newest], SINCE, NOW)
    assert view.complete_as_of == NOW and view.current and view.rounds_in_flight == 1
    assert view.fields() == {
        "job": "emitidos metadata",
        "complete_as_of": "2025-03-10T12:00:00",
        "age_hours": 0.0,
        "limit_hours": 84.0,
        "current": True,
        "stale": False,
        "rounds_in_flight": 1,
    }
    assert view.text() == (
        "vista completa más reciente: hace 0 min (2025-03-10 12:00), al día; "
        "1 barrido(s) con el SAT"
    )


def test_a_gap_in_the_settled_days_stops_the_view_and_it_goes_stale_past_its_limit() -> None:
    february = w(1, SINCE, D(2025, 2, 28, 23, 59, 59), P, DONE)
    march = w(2, D(2025, 3, 1), D(2025, 3, 6, 23, 59, 59), P, FAILED)
    sweep = w(3, D(2025, 3, 7), NOW, S, DONE)  # it does not join February's end
    view = view_of("emitidos metadata", False, RULES, [february, march, sweep], SINCE, NOW)
    assert view.complete_as_of == D(2025, 2, 28, 23, 59, 59)
    assert view.stale and "ATRASADA: más de 3 d 12 h" in view.text()
    # A recheck of the whole period makes it whole again.
    recheck = w(4, SINCE, NOW, R, DONE)
    view = view_of("emitidos metadata", False, RULES, [february, march, recheck], SINCE, NOW)
    assert view.complete_as_of == NOW and not view.stale


def test_a_split_round_is_complete_when_all_its_parts_are() -> None:
    parent = w(2, D(2025, 3, 7), NOW, S, WindowState.SPLIT)
    first = w(3, D(2025, 3, 7), D(2025, 3, 8), S, DONE, parent=2)
    second = w(4, D(2025, 3, 8, 0, 0, 1), NOW, S, REQUESTED, parent=2)
    windows = [SETTLED, parent, first, second]
    view = view_of("emitidos metadata", False, RULES, windows, SINCE, NOW)
    assert view.complete_as_of == SETTLED.end and view.rounds_in_flight == 1
    windows[-1] = w(4, D(2025, 3, 8, 0, 0, 1), NOW, S, WindowState.EMPTY, parent=2)
    assert view_of("m", False, RULES, windows, SINCE, NOW).complete_as_of == NOW


def test_xml_is_judged_against_the_settled_days() -> None:
    view = view_of("emitidos XML", True, RULES, [SETTLED], SINCE, NOW)
    assert view.complete_as_of == SETTLED.end and view.current and not view.stale
    assert view.limit == timedelta(hours=2 * 6 + 72 + 24)
    behind = view_of("emitidos XML", True, RULES, [SETTLED], SINCE, NOW + timedelta(days=5))
    assert not behind.current and behind.stale  # five settled days never asked for


def test_a_view_never_complete_is_stale_only_past_its_limit_since_the_first_run() -> None:
    asked = w(1, SINCE, D(2025, 3, 6, 23, 59, 59), P, REQUESTED)
    first_run = ViewRules(RULES.settle, RULES.sweep_every, RULES.horizon, None, NOW)
    view = view_of("emitidos metadata", False, first_run, [asked], SINCE, NOW)
    assert view.complete_as_of is None and view.age is None and not view.stale
    assert view.text() == "aún no hay una vista completa"
    later = NOW + timedelta(hours=85)
    assert view_of("m", False, first_run, [asked], SINCE, later).stale


def test_a_period_in_the_past_is_current_once_complete() -> None:
    until = D(2024, 12, 31, 23, 59, 59)
    rules = ViewRules(timedelta(days=3), timedelta(hours=6), timedelta(hours=72), until, SINCE)
    year = w(1, D(2024, 1, 1), until, P, DONE)
    view = view_of("emitidos metadata", False, rules, [year], D(2024, 1, 1), NOW)
    assert view.current and not view.stale
    nothing_yet = view_of("emitidos XML", True, RULES, [], D(2025, 3, 9), NOW)
    assert nothing_yet.current and not nothing_yet.stale  # nothing settled to have yet


def test_reach_and_durations() -> None:
    spans = [(D(2025, 1, 1), D(2025, 1, 31, 23, 59, 59)), (D(2025, 2, 1), D(2025, 2, 5))]
    assert reach(D(2025, 1, 1), spans) == D(2025, 2, 5)
    assert reach(D(2025, 1, 1), spans[1:]) is None
    assert [since_text(timedelta(minutes=m)) for m in (5, 90, 47 * 60, 50 * 60, 72 * 60)] == [
        "5 min",
        "1 h",
        "47 h",
        "2 d 2 h",
        "3 d",
    ]
