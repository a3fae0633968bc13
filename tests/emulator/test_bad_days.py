"""SAT's bad days in the emulator, on its emulated clock: realistic latency (drawn from the
seed), requests stuck then rejected, certification lag, outages and a corpus that stops."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from satdescarga import Endpoints, Fiel, Query, SatClient
from satdescarga.cli import main
from satdescarga.clock import to_local
from satdescarga.codes import RequestState
from satdescarga.emulator import Emulator, FaultSpecError, parse_faults
from satdescarga.emulator.model import Query as EmulatorQuery
from satdescarga.emulator.timeline import realistic
from satdescarga.errors import HttpError
from satdescarga.vocabulary import DownloadType, ServiceFamily

from ..sync.conftest import FIEL_DIR, PASSWORD_FILE

START = datetime(2025, 3, 10, 18, 0)
RFC = "EKU9003173C9"


@pytest.fixture(scope="module")
def fiel() -> Fiel:
    password = PASSWORD_FILE.read_text().strip()
    return Fiel.load(FIEL_DIR / "EKU9003173C9.cer", FIEL_DIR / "EKU9003173C9.key", password)


def test_realistic_latency_has_the_documented_shares_and_is_deterministic() -> None:
    draws = [realistic(7, f"criteria {i}") for i in range(4000)]
    assert draws == [realistic(7, f"criteria {i}") for i in range(4000)]
    assert draws != [realistic(8, f"criteria {i}") for i in range(4000)]
    totals = [d.accept + d.process for d in draws if not d.rejected]
    shares = Counter(
        "stuck" if d.rejected else
        "minutes" if d.accept + d.process <= 1800 else
        "hours" if d.accept + d.process <= 12 * 3600 else "days"
        for d in draws
    )  # fmt: skip
    assert 0.76 < shares["minutes"] / 4000 < 0.84
    assert 0.12 < shares["hours"] / 4000 < 0.18
    assert 0.025 < shares["days"] / 4000 < 0.055
    assert 0.003 < shares["stuck"] / 4000 < 0.02
    assert min(totals) >= 60 and max(totals) <= 4 * 86_400


def query(client: SatClient, start: str, end: str) -> str:
    result = client.query(
        Query(start=datetime.fromisoformat(start), end=datetime.fromisoformat(end))
    )
    assert result.status.accepted and result.request_id, result.status
    return result.request_id


def test_a_request_finishes_only_after_its_drawn_latency(fiel: Fiel) -> None:
    with Emulator(start=START, latency="realistic", seed=3, daily_documents=5) as sat:
        client = SatClient(fiel, Endpoints.local(sat.base_url))
        finished = stuck = 0
        for day in range(1, 21):
            request_id = query(client, f"2025-02-{day:02d}", f"2025-02-{day:02d}T23:59:59")
            assert client.verify(request_id).state in (RequestState.ACCEPTED,)
            sat.advance(days=4, hours=2)  # past the longest drawn latency
            state = client.verify(request_id).state
            # Finished (or already expired: packages live 72 h after it finished).
            finished += state in (RequestState.FINISHED, RequestState.EXPIRED)
            stuck += state in (RequestState.ACCEPTED, RequestState.REJECTED)
        assert finished + stuck == 20 and finished >= 17


def test_certification_lag_hides_a_document_until_it_is_visible(fiel: Fiel) -> None:
    with Emulator(start=START, certification_lag=72, daily_documents=20, seed=5) as sat:
        assert sat.app is not None
        now = to_local(sat.now())
        recent = EmulatorQuery(
            family=ServiceFamily.CFDI,
            operation="SolicitaDescargaEmitidos",
            rfc=RFC,
            request_type="Metadata",
            direction=DownloadType.ISSUED,
            start=now - timedelta(days=3),
            end=now,
            status="Todos",
        )
        before = sat.app.corpus.find(recent, now, 10**6).count
        later = sat.app.corpus.find(recent, now + timedelta(days=3), 10**6).count
        assert 0 < before < later  # the same dates: more of them visible three days later
        stream = sat.app.corpus.stream(ServiceFamily.CFDI, RFC, DownloadType.ISSUED)
        hidden = next(
            i
            for i in stream.index_range(recent.start, now, now)
            if not stream.exists(stream.issued_at(i, stream.draw(i)), stream.draw(i), now)
            and stream.issued_at(i, stream.draw(i)) <= now
        )
        uuid = stream.uuid(hidden)
        client = SatClient(fiel, Endpoints.local(sat.base_url))
        assert sat.app.corpus.lookup(ServiceFamily.CFDI, RFC, uuid, now) is None
        visible = stream.visible_at(
            stream.issued_at(hidden, stream.draw(hidden)), stream.draw(hidden)
        )
        assert sat.app.corpus.lookup(ServiceFamily.CFDI, RFC, uuid, visible) is not None
        client.close()


def test_an_outage_answers_503_and_records_nothing(fiel: Fiel) -> None:
    outage = (datetime(2025, 3, 10, 12, 0), datetime(2025, 3, 12, 12, 0))
    with Emulator(start=START, outages=(outage,)) as sat:
        client = SatClient(fiel, Endpoints.local(sat.base_url), retries=1)
        try:
            client.authenticate()
        except HttpError as exc:
            assert exc.status == 503
        else:
            raise AssertionError("Autentica answered during the outage")
        assert sat.stats()["tokens_issued"] == 0
        sat.advance(days=2)
        assert client.authenticate().value
        request_id = query(client, "2025-02-01", "2025-02-01T23:59:59")
        assert client.verify(request_id).state in (RequestState.ACCEPTED, RequestState.IN_PROGRESS)


def test_the_corpus_stops_at_the_last_document() -> None:
    last = datetime(2025, 2, 15)
    with Emulator(start=START, last_document=last, daily_documents=10) as sat:
        assert sat.app is not None
        now = to_local(sat.now())
        everything = EmulatorQuery(
            family=ServiceFamily.CFDI,
            operation="SolicitaDescargaEmitidos",
            rfc=RFC,
            request_type="Metadata",
            direction=DownloadType.ISSUED,
            start=datetime(2025, 2, 1),
            end=now,
            status="Todos",
        )
        matches = sat.app.corpus.find(everything, now, 10**6)
        dates = [d.issued_at for d in sat.app.corpus.documents(matches, 0, matches.count, now)]
        assert dates and max(dates) <= last and len(dates) >= 13 * 10


def test_the_emulator_command_takes_the_bad_days(tmp_path: Path) -> None:
    bad = CliRunner().invoke(main, ["emulator", "serve", "--outage", "ayer/hoy"])
    assert bad.exit_code == 2 and "INICIO/FIN" in bad.output
    help_text = CliRunner().invoke(main, ["emulator", "serve", "--help"]).output
    for option in ("--latency", "--certification-lag", "--outage", "--last-document", "--start"):
        assert option in help_text


def test_a_held_request_stays_accepted_for_its_hold_then_finishes(fiel: Fiel) -> None:
    with Emulator(start=START, accept_delay=0, process_delay=0, daily_documents=5) as sat:
        client = SatClient(fiel, Endpoints.local(sat.base_url))
        sat.set_faults("emitidos=hold:172800*1")  # the next one: two days
        held = query(client, "2025-02-01", "2025-02-01T23:59:59")
        other = query(client, "2025-02-02", "2025-02-02T23:59:59")
        assert client.verify(other).state is RequestState.FINISHED
        sat.advance(days=1, hours=23)
        assert client.verify(held).state is RequestState.ACCEPTED
        sat.advance(hours=2)
        assert client.verify(held).state is RequestState.FINISHED
    for bad in ("verifica=hold:10", "emitidos=hold", "solicita=hold:-1"):
        with pytest.raises(FaultSpecError):
            parse_faults(bad)
