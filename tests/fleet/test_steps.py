"""Steps of the fleet, run in this process against the emulator and a real PostgreSQL: each
taxpayer's outputs equal the emulator's corpus, limits are shared, and the fleet pauses when
SAT fails for many taxpayers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from satdescarga.clock import to_local
from satdescarga.emulator import Emulator
from satdescarga.emulator.model import Query as EmulatorQuery
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import engine_for, reader_for
from satdescarga.fleet.limits import Limits, SharedLimits
from satdescarga.fleet.outputs import xml_of
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.status import fleet_status
from satdescarga.fleet.step import StepResult, Worker, run_step
from satdescarga.fleet.vault import FielFiles, MasterKey
from satdescarga.sync.notify import Notifier
from satdescarga.vocabulary import DownloadType, ServiceFamily

from .conftest import fleet_rfcs, issued_fiel

START = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)
SINCE = "2025-02-01"


def corpus(
    sat: Emulator,
    rfc: str,
    direction: DownloadType,
    xml: bool,
    end: datetime,
    since: str = SINCE,
    family: ServiceFamily = ServiceFamily.CFDI,
) -> dict[str, bool]:
    """UUID -> cancelled, of what SAT shows now for `rfc`, dated from `since` to `end`."""
    assert sat.app is not None
    now = to_local(sat.app.clock.now())
    query = EmulatorQuery(
        family=family,
        operation="SolicitaDescargaEmitidos" if direction is DownloadType.ISSUED else "Recibidos",
        rfc=rfc,
        request_type="CFDI" if xml else "Metadata",
        direction=direction,
        start=datetime.fromisoformat(since),
        end=end,
        status="Vigente" if xml and direction is DownloadType.RECEIVED else "Todos",
    )
    matches = sat.app.corpus.find(query, now, 10**9)
    return {d.uuid: d.cancelled for d in sat.app.corpus.documents(matches, 0, matches.count, now)}


def make_worker(url: str, key: MasterKey, sat: Emulator, spool: Path, **limits: Any) -> Worker:
    engine = engine_for(url)
    assert sat.app is not None
    return Worker(
        engine=engine,
        reader=reader_for(url),
        vault=key,
        limits=SharedLimits(engine, Limits(**{"rate": 1000.0, **limits})),
        spool=spool,
        endpoint_base=sat.base_url,
        clock=sat.app.clock.now,
    )


def add_taxpayers(
    worker: Worker, key: MasterKey, cache: dict[str, FielFiles], folder: Path, count: int
) -> list[str]:
    rfcs = fleet_rfcs(count)
    for rfc in rfcs:
        files = issued_fiel(cache, folder, rfc)
        taxpayers.add(worker.engine, key, files, Policy(since=SINCE), now=START)
    return rfcs


def test_each_taxpayer_of_the_fleet_gets_its_own_corpus(
    fleet_db: str, master_key: MasterKey, issued: dict[str, FielFiles], tmp_path: Path
) -> None:
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=3, seed=5) as sat:  # fmt: skip
        worker = make_worker(fleet_db, master_key, sat, tmp_path / "spool")
        rfcs = add_taxpayers(worker, master_key, issued, tmp_path / "fiel", 2)
        for rfc in rfcs:
            results = [run_step(worker, rfc) for _ in range(3)]
            assert results[-1] is StepResult.CURRENT, taxpayers.get(worker.engine, rfc)
        before = sat.stats()
        for rfc in rfcs:  # current: another step asks SAT for nothing new
            assert run_step(worker, rfc) is StepResult.CURRENT
        assert sum(len(r["requests"]) for r in sat.stats()["rfcs"].values()) == sum(
            len(r["requests"]) for r in before["rfcs"].values()
        )
        now = to_local(sat.app.clock.now()) if sat.app else None
        assert now is not None
        settled = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0) - timedelta(
            seconds=1
        )
        seen: dict[str, set[str]] = {}
        with worker.engine.connect() as db:
            for rfc in rfcs:
                metadata = {
                    u: s == "Cancelado"
                    for u, s in db.execute(
                        text("SELECT uuid, estatus FROM fleet_metadata WHERE taxpayer = :r"),
                        {"r": rfc},
                    )
                }
                truth = corpus(sat, rfc, DownloadType.ISSUED, False, now) | corpus(
                    sat, rfc, DownloadType.RECEIVED, False, now
                )
                assert metadata == truth and truth
                seen[rfc] = set(metadata)
                xml = set(
                    db.execute(
                        text("SELECT uuid FROM fleet_xml WHERE taxpayer = :r"), {"r": rfc}
                    ).scalars()
                )
                expected = set(corpus(sat, rfc, DownloadType.ISSUED, True, settled)) | set(
                    corpus(sat, rfc, DownloadType.RECEIVED, True, settled)
                )
                assert expected and expected <= xml
                uuid = sorted(expected)[0]
                content = xml_of(worker.engine, rfc, uuid)
                assert content is not None and uuid.upper().encode() in content.upper()
                appeared = db.execute(
                    text("SELECT count(*) FROM fleet_changes WHERE taxpayer = :r"), {"r": rfc}
                ).scalar()
                assert appeared == len(truth)
        assert not seen[rfcs[0]] & seen[rfcs[1]]  # two RFCs, two corpora
        status = fleet_status(worker.engine, now)
        assert [row["result"] for row in status["taxpayers"]] == ["al_dia", "al_dia"]
        assert status["totals"]["documents"] == sum(row["documents"] for row in status["taxpayers"])
        worker.engine.dispose()


def test_requests_in_flight_per_taxpayer_are_capped(
    fleet_db: str, master_key: MasterKey, issued: dict[str, FielFiles], tmp_path: Path
) -> None:
    with Emulator(start=START, clock_speed=1e-6, accept_delay=3600, process_delay=3600,
                  daily_documents=1, seed=5) as sat:  # fmt: skip
        worker = make_worker(fleet_db, master_key, sat, tmp_path / "spool")
        (rfc,) = add_taxpayers(worker, master_key, issued, tmp_path / "fiel", 1)
        taxpayers.set_policy(worker.engine, rfc, Policy(since=SINCE, max_active=2))
        assert run_step(worker, rfc) is StepResult.PENDING
        assert run_step(worker, rfc) is StepResult.PENDING
        sent = sat.stats()["rfcs"][rfc]["requests"]
        assert len(sent) == 2  # the other windows wait for these two
        worker.engine.dispose()


def test_the_fleet_pauses_when_sat_fails_for_many_and_resumes_by_itself(
    fleet_db: str, master_key: MasterKey, issued: dict[str, FielFiles], tmp_path: Path
) -> None:
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=1, seed=5) as sat:  # fmt: skip
        worker = make_worker(
            fleet_db, master_key, sat, tmp_path / "spool", threshold=3, pause_base=2.0
        )
        told = tmp_path / "avisos.jsonl"
        notifier = Notifier(command=f"sh -c 'cat >> {told}; echo >> {told}'")

        def paused(seconds: float) -> None:
            notifier.send({"fleet": True, "pause": seconds})

        worker.notifier = notifier
        worker.limits = SharedLimits(worker.engine, worker.limits.limits, paused)
        rfcs = add_taxpayers(worker, master_key, issued, tmp_path / "fiel", 3)
        sat.set_faults("*=http503")
        for rfc in rfcs[:2]:
            assert run_step(worker, rfc) in (StepResult.SAT_DOWN, StepResult.ERROR)
        assert worker.limits.paused_for() > 0
        calls = sat.stats().get("calls")
        assert run_step(worker, rfcs[2]) in (StepResult.SAT_DOWN, StepResult.ERROR)
        assert rfcs[2] not in sat.stats()["rfcs"]  # paused: it never reached SAT
        assert calls is None or sat.stats()["calls"] == calls
        sat.clear_faults()
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while worker.limits.paused_for() > 0 and datetime.now(UTC) < deadline:
            pass
        assert worker.limits.paused_for() == 0
        for rfc in rfcs:
            results = [run_step(worker, rfc) for _ in range(3)]
            assert results[-1] is StepResult.CURRENT
        state = worker.limits.state()
        assert state["failures"] == 0 and state["pauses"] >= 1 and not state["open"]
        notices = [json.loads(line) for line in told.read_text().splitlines() if line]
        assert [n["pause"] for n in notices if n.get("fleet")] == [2.0]  # the fleet, once
        down = [n for n in notices if n.get("rfc") == rfcs[0]]
        assert down and "el SAT no está disponible" in down[0]["news"][0]
        worker.engine.dispose()
