"""4. `Query` takes its enums and SAT's own spellings, coerced exactly; anything else is an
`InvalidQuery` listing every problem, raised before authenticating. Typed for mypy."""

from __future__ import annotations

import textwrap
from datetime import date, datetime
from pathlib import Path

import pytest

from satdescarga import (
    ComplementoCfdi,
    ComplementoRetenciones,
    DocumentStatus,
    DocumentType,
    DownloadType,
    Endpoints,
    Fiel,
    InvalidQuery,
    Query,
    RequestType,
    SatClient,
)
from satdescarga.emulator import Emulator

from ..sync.conftest import RFC, SINCE, emulator

MARCH = (date(SINCE.year, 3, 1), date(SINCE.year, 3, 31))


def test_sat_spellings_are_coerced_exactly() -> None:
    q = Query(
        start=MARCH[0], end=MARCH[1], download_type="emitidos", request_type="CFDI",
        document_type="I", document_status="Vigente", complement="nomina12",
        counterparts="AAA010101AAA",
    )  # fmt: skip
    assert q.download_type is DownloadType.ISSUED and q.request_type is RequestType.XML
    assert q.document_type is DocumentType.INGRESO and q.document_status is DocumentStatus.ACTIVE
    assert q.complement is ComplementoCfdi.NOMINA12 and q.counterparts == ("AAA010101AAA",)
    assert q.start == datetime(SINCE.year, 3, 1) and q.end == datetime(
        SINCE.year, 3, 31, 23, 59, 59
    )
    assert Query(download_type="Recibidos").download_type is DownloadType.RECEIVED
    assert Query(request_type="metadata").request_type is RequestType.METADATA
    assert Query(document_status="cancelado").document_status is DocumentStatus.CANCELLED
    assert Query(complement="dividendos").complement is ComplementoRetenciones.DIVIDENDOS
    assert Query(counterparts=["AAA010101AAA", "BBB010101BBB"]).counterparts == (
        "AAA010101AAA",
        "BBB010101BBB",
    )
    assert q == Query(
        start=datetime(SINCE.year, 3, 1), end=datetime(SINCE.year, 3, 31, 23, 59, 59),
        download_type=DownloadType.ISSUED, request_type=RequestType.XML,
        document_type=DocumentType.INGRESO, document_status=DocumentStatus.ACTIVE,
        complement=ComplementoCfdi.NOMINA12, counterparts=("AAA010101AAA",),
    )  # fmt: skip


def test_anything_else_is_refused_listing_every_problem() -> None:
    with pytest.raises(InvalidQuery) as caught:
        Query(
            start="2025-01-01", download_type="issuedd", request_type="PDF",  # type: ignore[arg-type]
            document_status=True, complement="nomina99", counterparts=5,  # type: ignore[arg-type]
        )  # fmt: skip
    problems = caught.value.problems
    assert len(problems) == 6, problems
    for word in ("start", "download_type", "request_type", "document_status", "complement"):
        assert any(p.startswith(word) for p in problems), word
    assert "AttributeError" not in str(caught.value)


def test_a_bad_value_never_reaches_sat(fiel: Fiel) -> None:
    with emulator() as sat, SatClient(fiel, Endpoints.local(sat.base_url)) as client:
        with pytest.raises(InvalidQuery):
            client.query(Query(start=MARCH[0], end=MARCH[1], document_status="vigentes"))  # type: ignore[arg-type]
        with pytest.raises(InvalidQuery):  # a Retenciones complement on the CFDI service
            client.query(Query(start=MARCH[0], end=MARCH[1], complement="dividendos"))
        assert sat.stats()["tokens_issued"] == 0


def test_emitidos_is_sent_as_emitidos(fiel: Fiel, sat_emulator: Emulator) -> None:
    with SatClient(fiel, Endpoints.local(sat_emulator.base_url)) as client:
        result = client.query(Query(start=MARCH[0], end=MARCH[1], download_type="emitidos"))
    assert result.status.accepted
    [request] = sat_emulator.stats()["rfcs"][RFC]["requests"]
    assert request["criteria"]["operation"] == "SolicitaDescargaEmitidos"
    assert request["criteria"]["fecha_final"] == f"{MARCH[1]}T23:59:59"


def test_mypy_catches_wrong_types_in_user_code(tmp_path: Path) -> None:
    from mypy import api

    user = tmp_path / "user.py"
    user.write_text(
        textwrap.dedent(
            """
            from datetime import date
            from satdescarga import Query
            Query(start=date(2025, 1, 1), download_type="emitidos", document_status="Vigente")
            Query(download_type="issuedd")
            Query(start="2025-01-01")
            Query(request_type=3)
            """
        )
    )
    out, _, status = api.run(
        [str(user), "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
         "--follow-imports", "silent"]
    )  # fmt: skip
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1 and [line.split(":")[1] for line in errors] == ["5", "6", "7"], out
