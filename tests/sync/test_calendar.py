"""The unattended plan, as pure functions of the ledger's history and the clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from satdescarga.client import DownloadType, RequestType
from satdescarga.sync.calendar import ROUNDS_IN_FLIGHT, Calendar, Planned, gaps
from satdescarga.sync.freshness import rounds_in_flight
from satdescarga.sync.plan import Job
from satdescarga.sync.records import Window
from satdescarga.sync.states import WindowPurpose, WindowState

D = datetime
METADATA = Job("EKU9003173C9", "cfdi", DownloadType.ISSUED, RequestType.METADATA)
XML = Job("EKU9003173C9", "cfdi", DownloadType.ISSUED, RequestType.XML)


def window(start: datetime, end: datetime, purpose: WindowPurpose, state: WindowState) -> Window:
    return Window(1, METADATA.key, start, end, None, state, "", 0, purpose)


def test_gaps_are_what_no_window_covers() -> None:
    covered = [(D(2025, 1, 1), D(2025, 1, 31, 23, 59, 59)), (D(2025, 3, 1), D(2025, 3, 5))]
    assert gaps(D(2025, 1, 1), D(2025, 3, 10), covered) == [
        (D(2025, 2, 1), D(2025, 2, 28, 23, 59, 59)),
        (D(2025, 3, 5, 0, 0, 1), D(2025, 3, 10)),
    ]
    assert gaps(D(2025, 1, 1), D(2025, 1, 31), covered) == []


def test_xml_waits_for_settled_days_and_metadata_sweeps_the_rest() -> None:
    now = D(2025, 3, 10, 12, 0, 0)
    plan = Calendar(since=D(2025, 2, 1))
    assert plan.windows(XML, [], now, None) == [
        (D(2025, 2, 1), D(2025, 2, 28, 23, 59, 59), WindowPurpose.PERIOD),
        (D(2025, 3, 1), D(2025, 3, 6, 23, 59, 59), WindowPurpose.PERIOD),
    ]
    assert plan.windows(METADATA, [], now, None)[-1] == (D(2025, 3, 7), now, WindowPurpose.SWEEP)


def test_a_sweep_does_not_wait_for_the_last_one_and_a_recheck_comes_weekly() -> None:
    now = D(2025, 3, 10, 12)
    plan = Calendar(since=D(2025, 2, 1))
    period = window(
        D(2025, 2, 1), D(2025, 3, 6, 23, 59, 59), WindowPurpose.PERIOD, WindowState.DONE
    )
    sweep = window(D(2025, 3, 7), now, WindowPurpose.SWEEP, WindowState.REQUESTED)
    assert plan.windows(METADATA, [period, sweep], now + timedelta(hours=1), None) == []
    later = now + timedelta(hours=7)  # the last sweep is still with SAT: the next goes anyway
    assert plan.windows(METADATA, [period, sweep], later, None) == [
        (D(2025, 3, 7), later, WindowPurpose.SWEEP)
    ]
    done = window(D(2025, 3, 7), now, WindowPurpose.SWEEP, WindowState.DONE)
    assert plan.windows(METADATA, [period, done], now + timedelta(hours=1), None) == []
    assert plan.windows(METADATA, [period, done], later, None) == [
        (D(2025, 3, 7), later, WindowPurpose.SWEEP)
    ]
    week = now + timedelta(days=7)
    (recheck,) = [
        w for w in plan.windows(METADATA, [period, done], week, None) if w[2].value == "recheck"
    ]
    assert recheck == (D(2025, 2, 1), week, WindowPurpose.RECHECK)


def test_at_most_three_rounds_are_with_sat_and_the_bound_is_said() -> None:
    now = D(2025, 3, 10, 12)
    plan = Calendar(since=D(2025, 2, 1))
    period = window(
        D(2025, 2, 1), D(2025, 3, 6, 23, 59, 59), WindowPurpose.PERIOD, WindowState.DONE
    )
    sweeps = [
        Window(i, METADATA.key, D(2025, 3, 7), now + timedelta(hours=6 * (i - 2)), None,
               WindowState.REQUESTED, "", 0, WindowPurpose.SWEEP)
        for i in range(2, 2 + ROUNDS_IN_FLIGHT)
    ]  # fmt: skip
    later = now + timedelta(days=1)
    assert rounds(plan.windows(METADATA, [period, *sweeps], later, None)) == []
    (note,) = plan.notes(METADATA, [period, *sweeps], later)
    assert note == (
        "emitidos metadata: 3 barridos siguen con el SAT (el límite); no se pide otro hasta "
        "que termine uno (el más antiguo es del 2025-03-10 12:00, hace 24 h)"
    )
    # One finished: the next goes.
    finished = [replace(sweeps[0], state=WindowState.DONE)]
    assert rounds(plan.windows(METADATA, [period, *finished, *sweeps[1:]], later, None)) == [
        (D(2025, 3, 8), later, WindowPurpose.SWEEP)
    ]
    assert plan.notes(METADATA, [period, *finished, *sweeps[1:]], later) == []
    # The halves of one split round are one round with SAT, not two.
    first = Window(
        2, METADATA.key, D(2025, 3, 7), now, None, WindowState.SPLIT, "", 0, WindowPurpose.SWEEP
    )
    halves = [
        Window(3, METADATA.key, D(2025, 3, 7), D(2025, 3, 8), 2, WindowState.REQUESTED, "", 0,
               WindowPurpose.SWEEP),
        Window(4, METADATA.key, D(2025, 3, 8, 0, 0, 1), now, 2, WindowState.REQUESTED, "", 0,
               WindowPurpose.SWEEP),
    ]  # fmt: skip
    assert [w.id for w in rounds_in_flight([first, *halves])] == [2]
    # A round not even sent (SAT failing) goes before any new one.
    unsent = window(D(2025, 3, 7), now, WindowPurpose.SWEEP, WindowState.PLANNED)
    assert rounds(plan.windows(METADATA, [period, unsent], later, None)) == []


def rounds(planned: list[Planned]) -> list[Planned]:
    return [p for p in planned if p[2] is not WindowPurpose.PERIOD]


def test_a_period_in_the_past_gets_neither_sweeps_nor_rechecks() -> None:
    plan = Calendar(since=D(2024, 1, 1), until=D(2024, 12, 31, 23, 59, 59))
    planned = plan.windows(METADATA, [], D(2025, 6, 1), None)
    assert len(planned) == 12 and {p[2] for p in planned} == {WindowPurpose.PERIOD}
