"""The library's whole conversation, typed: `wait` (backoff, deadline), `download_all`, `fetch`,
refusals as typed errors, and the README's example run as written against the emulator."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from satdescarga import (
    DownloadRefused,
    Endpoints,
    Fiel,
    HttpError,
    Polling,
    Query,
    QueryRefused,
    RequestFailed,
    RequestState,
    RequestType,
    SatClient,
    SatCode,
    SatError,
    VerifyResult,
    WaitTimeout,
)
from satdescarga.emulator import Emulator
from satdescarga.packages import MetadataPackage

from ..conftest import ROOT
from ..sync.conftest import FIEL_DIR, PASSWORD_FILE, RFC, SINCE, emulator

MONTH = (datetime(SINCE.year, 3, 1), datetime(SINCE.year, 3, 31, 23, 59, 59))
EXAMPLE = Path(__file__).with_name("readme_example.py")
CLIENT_LINE = "SatClient(fiel, Endpoints.cfdi())"


@pytest.fixture(scope="module")
def fiel() -> Fiel:
    password = PASSWORD_FILE.read_text().strip()
    return Fiel.load(FIEL_DIR / "EKU9003173C9.cer", FIEL_DIR / "EKU9003173C9.key", password)


class EmulatedTime:
    """A `Polling` whose sleeps advance the emulator's clock (no real waiting); remembers them."""

    def __init__(self, sat: Emulator, initial: float = 5.0, cap: float = 300.0) -> None:
        self.sat = sat
        self.sleeps: list[float] = []
        self.polling = Polling(initial, cap, clock=sat.now, sleep=self.sleep)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sat.advance(seconds=seconds)


def client(fiel: Fiel, sat: Emulator, **options: Any) -> SatClient:
    return SatClient(fiel, Endpoints.local(sat.base_url), retry_wait=(0.01, 0.05), **options)


def recording_session() -> tuple[requests.Session, list[str]]:
    """A real session that remembers the SOAP operation of every call it makes."""
    session, actions = requests.Session(), []

    def remember(response: requests.Response, *_: Any, **__: Any) -> None:
        action = response.request.headers.get("SOAPAction", "")
        actions.append(str(action).strip('"').rpartition("/")[2])

    session.hooks["response"].append(remember)
    return session, actions


@pytest.fixture
def slow_sat() -> Iterator[Emulator]:
    """SAT that keeps a request Aceptada 2 minutes, then En proceso 10 more (emulated)."""
    with emulator(accept_delay=120, process_delay=600) as sat:
        yield sat


def test_wait_polls_with_backoff_until_finished_and_download_all_fetches_each_package(
    fiel: Fiel, slow_sat: Emulator, tmp_path: Path
) -> None:
    time = EmulatedTime(slow_sat)
    sat_client = client(fiel, slow_sat, polling=time.polling)
    asked = sat_client.query(Query(start=MONTH[0], end=MONTH[1]))
    seen: list[RequestState] = []
    verification = sat_client.wait(asked.request_id, on_poll=lambda v: seen.append(v.state))
    assert verification.state is RequestState.FINISHED and verification.package_ids
    assert seen[0] is RequestState.ACCEPTED and seen[-1] is RequestState.FINISHED
    assert RequestState.IN_PROGRESS in seen
    assert all(3.75 <= s <= 375 for s in time.sleeps)  # within [initial, cap], ±25 %
    assert sum(time.sleeps) >= 720  # it waited for SAT, in emulated time only
    paths = sat_client.download_all(verification, tmp_path / "paquetes")
    assert [p.name for p in paths] == [f"{i}.zip" for i in verification.package_ids]
    rows = 0
    for path in paths:
        with MetadataPackage(path) as package:
            rows += sum(1 for _ in package)
    assert rows == verification.cfdi_count > 0
    downloads = {
        p["id"]: p["downloads"] for p in slow_sat.stats()["rfcs"][RFC]["requests"][0]["packages"]
    }
    assert sat_client.download_all(verification, tmp_path / "paquetes") == paths
    again = {
        p["id"]: p["downloads"] for p in slow_sat.stats()["rfcs"][RFC]["requests"][0]["packages"]
    }
    assert again == downloads  # packages already on disk are not asked for again


def test_wait_gives_up_at_its_deadline_with_a_typed_error(fiel: Fiel, slow_sat: Emulator) -> None:
    time = EmulatedTime(slow_sat)
    sat_client = client(fiel, slow_sat, polling=time.polling)
    asked = sat_client.query(Query(start=MONTH[0], end=MONTH[1]))
    with pytest.raises(WaitTimeout) as timeout:
        sat_client.wait(asked.request_id, timeout=60)
    assert timeout.value.request_id == asked.request_id
    assert timeout.value.state is RequestState.ACCEPTED
    assert 55 <= sum(time.sleeps) <= 60  # never sleeps past the deadline
    assert "sigue aceptada" in str(timeout.value) and isinstance(timeout.value, SatError)


def test_a_request_that_ends_without_packages_raises_request_failed(fiel: Fiel) -> None:
    with emulator(xml_cap=10) as sat:
        sat_client = client(fiel, sat)
        xml = Query(start=MONTH[0], end=MONTH[1], request_type=RequestType.XML)
        with pytest.raises(RequestFailed) as failed:
            sat_client.fetch(xml, "nunca-se-crea")
        assert failed.value.state is RequestState.REJECTED
        assert failed.value.sat_code is SatCode.TOPE_MAXIMO
        assert "Rechazada" in str(failed.value) and "5003" in str(failed.value)
        unknown = str(uuid.uuid4())
        with pytest.raises(RequestFailed) as not_known:
            sat_client.wait(unknown)
        assert not_known.value.state is RequestState.UNKNOWN
        assert not_known.value.sat_code is SatCode.NO_ENCONTRADA
    assert not Path("nunca-se-crea").exists()


def test_nothing_found_is_finished_with_no_packages(fiel: Fiel, tmp_path: Path) -> None:
    with emulator() as sat:
        instant = datetime(SINCE.year, 1, 1)
        one_second = Query(start=instant, end=instant.replace(second=1))
        paths = client(fiel, sat).fetch(one_second, tmp_path / "vacio")
        assert paths == [] and list((tmp_path / "vacio").iterdir()) == []


def test_a_refused_query_raises_and_nothing_is_verified(fiel: Fiel, slow_sat: Emulator) -> None:
    session, actions = recording_session()
    sat_client = client(fiel, slow_sat, polling=EmulatedTime(slow_sat).polling, session=session)
    query = Query(start=MONTH[0], end=MONTH[1])
    sat_client.query(query)
    with pytest.raises(QueryRefused) as refused:  # the same request is still active: 5005
        sat_client.fetch(query, "nunca-se-crea")
    assert refused.value.sat_code is SatCode.SOLICITUD_DUPLICADA
    assert refused.value.code == "5005" and refused.value.operation == "SolicitaDescargaEmitidos"
    assert actions == ["Autentica", "SolicitaDescargaEmitidos", "SolicitaDescargaEmitidos"]


def test_wait_rides_out_sat_failures_while_polling(fiel: Fiel) -> None:
    with emulator(faults="verifica=http500*2; verifica=error404*1") as sat:
        time = EmulatedTime(sat)
        sat_client = client(fiel, sat, retries=1, polling=time.polling)
        asked = sat_client.query(Query(start=MONTH[0], end=MONTH[1]))
        assert sat_client.wait(asked.request_id).state is RequestState.FINISHED
        assert len(time.sleeps) == 3  # 500, 500, 404: each only a reason to ask again
        sat.set_faults("verifica=http500")
        with pytest.raises(HttpError):  # still failing at the deadline: that failure
            sat_client.wait(asked.request_id, timeout=30)


def test_download_all_raises_when_sat_refuses_a_package(fiel: Fiel, tmp_path: Path) -> None:
    with emulator() as sat:
        sat_client = client(fiel, sat)
        asked = sat_client.query(Query(start=MONTH[0], end=MONTH[1]))
        verification = sat_client.wait(asked.request_id)
        sat_client.download_all(verification, tmp_path / "a")
        sat_client.download_all(verification, tmp_path / "b")
        with pytest.raises(DownloadRefused) as refused:
            sat_client.download_all(verification, tmp_path / "b", force=True)
        assert refused.value.sat_code is SatCode.MAXIMO_DE_DESCARGAS
        assert refused.value.package_id == verification.package_ids[0]


def test_download_all_refuses_a_package_id_that_is_not_a_file_name(
    fiel: Fiel, tmp_path: Path
) -> None:
    with emulator() as sat:
        hostile = VerifyResult(RequestState.FINISHED, 3, None, ("../fuera",), 1, None)  # type: ignore[arg-type]
        with pytest.raises(SatError, match="paquete inválido"):
            client(fiel, sat).download_all(hostile, tmp_path)
    assert not (tmp_path.parent / "fuera.zip").exists()


def test_polling_delay_is_half_the_time_waited_bounded_with_jitter() -> None:
    polling = Polling(initial=5, cap=300)
    for _ in range(200):
        assert 3.75 <= polling.delay(0) <= 6.25
        assert 75 <= polling.delay(200) <= 125
        assert 225 <= polling.delay(10**6) <= 375
    for initial, cap in ((0, 10), (20, 10), (-1, 5)):
        with pytest.raises(ValueError, match="initial <= cap"):
            Polling(initial, cap)  # never a loop that hammers SAT


# -- the README's example ------------------------------------------------------------------------
def readme_example() -> str:
    """The Python block of the README's library section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## La biblioteca") :]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


def test_the_readme_example_is_the_type_checked_file() -> None:
    """tests/integration/readme_example.py is checked by `mypy --strict` and ruff with the rest
    of the tests: the README shows exactly that file."""
    assert readme_example() == EXAMPLE.read_text(encoding="utf-8")


def test_the_readme_example_downloads_and_reads_a_month(
    fiel: Fiel,
    slow_sat: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run as written, against an emulated SAT that takes 12 minutes to prepare the request
    (emulated: its clock is advanced by the waits), with the files named as in the README."""
    shutil.copy(FIEL_DIR / "EKU9003173C9.cer", tmp_path / "mi.cer")
    shutil.copy(FIEL_DIR / "EKU9003173C9.key", tmp_path / "mi.key")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SATDESCARGA_PASSWORD", PASSWORD_FILE.read_text().strip())
    source = readme_example()
    assert source.count(CLIENT_LINE) == 1
    pointed = "SatClient(fiel, Endpoints.local(EMULATOR), polling=POLLING)"
    time = EmulatedTime(slow_sat)
    namespace: dict[str, Any] = {"EMULATOR": slow_sat.base_url, "POLLING": time.polling}
    exec(compile(source.replace(CLIENT_LINE, pointed), "README.md", "exec"), namespace)
    verification = namespace["verification"]
    assert verification.state is RequestState.FINISHED and time.sleeps
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == verification.cfdi_count > 0
    assert {p.name for p in (tmp_path / "paquetes").iterdir()} == {
        f"{i}.zip" for i in verification.package_ids
    }
    assert timedelta(0) < timedelta(seconds=sum(time.sleeps)) < timedelta(hours=12)


# -- the sync keeps recording SAT's refusals ------------------------------------------------------
def test_the_sync_records_a_refused_query_in_its_ledger_and_splits(
    fiel: Fiel, tmp_path: Path
) -> None:
    """QueryRefused is how the library says 5005 now: the sync still records SAT's answer
    (code, message, outcome `refused`) and acts on it (new criteria), sending no Verifica for
    a request that has no id."""
    from satdescarga.sync.ledger.sql import SqliteLedger
    from satdescarga.sync.plan import Job
    from satdescarga.sync.states import RequestOutcome, WindowState
    from satdescarga.vocabulary import DownloadType

    from ..sync.conftest import run

    job = Job(RFC, "cfdi", DownloadType.ISSUED, RequestType.METADATA)
    with emulator(accept_delay=3600) as sat:
        client(fiel, sat).query(job.query(*MONTH))  # SAT holds these criteria, still active
        run(fiel, sat, tmp_path, jobs=[job], windows=[MONTH], wait=False)
    ledger = SqliteLedger(tmp_path / ".satdescarga" / "ledger.sqlite")
    try:
        requests = ledger.requests()
        refused = [r for r in requests if r.outcome is RequestOutcome.REFUSED]
        assert [(r.request_id, r.cod_estatus) for r in refused] == [(None, "5005")]
        assert refused[0].mensaje == SatCode.SOLICITUD_DUPLICADA.message
        assert ledger.window_by_id(refused[0].window_id).state is WindowState.SPLIT
        halves = [r for r in requests if r.outcome is RequestOutcome.POLLING]
        assert len(halves) == 2 and all(r.request_id for r in halves)
    finally:
        ledger.close()
