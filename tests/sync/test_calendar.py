"""The unattended plan, as pure functions of the ledger's history and the clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from satdescarga.client import DownloadType, RequestType
from satdescarga.sync.calendar import Calendar, gaps
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


def test_a_sweep_waits_for_the_last_one_and_a_recheck_comes_weekly() -> None:
    now = D(2025, 3, 10, 12)
    plan = Calendar(since=D(2025, 2, 1))
    period = window(
        D(2025, 2, 1), D(2025, 3, 6, 23, 59, 59), WindowPurpose.PERIOD, WindowState.DONE
    )
    sweep = window(D(2025, 3, 7), now, WindowPurpose.SWEEP, WindowState.REQUESTED)
    assert plan.windows(METADATA, [period, sweep], now + timedelta(hours=7), None) == []
    done = window(D(2025, 3, 7), now, WindowPurpose.SWEEP, WindowState.DONE)
    assert plan.windows(METADATA, [period, done], now + timedelta(hours=1), None) == []
    later = now + timedelta(hours=7)
    assert plan.windows(METADATA, [period, done], later, None) == [
        (D(2025, 3, 7), later, WindowPurpose.SWEEP)
    ]
    week = now + timedelta(days=7)
    (recheck,) = [
        w for w in plan.windows(METADATA, [period, done], week, None) if w[2].value == "recheck"
    ]
    assert recheck == (D(2025, 2, 1), week, WindowPurpose.RECHECK)


def test_a_period_in_the_past_gets_neither_sweeps_nor_rechecks() -> None:
    plan = Calendar(since=D(2024, 1, 1), until=D(2024, 12, 31, 23, 59, 59))
    planned = plan.windows(METADATA, [], D(2025, 6, 1), None)
    assert len(planned) == 12 and {p[2] for p in planned} == {WindowPurpose.PERIOD}
