"""The library's SatClient against the emulator, over real HTTP: every flow, rule and fault."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from satdescarga import (
    DocumentStatus,
    DownloadType,
    Endpoints,
    Fiel,
    NetworkError,
    Query,
    QueryRefused,
    RequestState,
    RequestType,
    SatClient,
    SatCode,
    SatTimeoutError,
    SoapFault,
    VerifyResult,
)
from satdescarga.emulator import Emulator
from satdescarga.errors import IncompleteResponseError
from satdescarga.packages import CfdiPackage, Estatus, MetadataPackage, open_package

from ..sync.conftest import RFC, SINCE, emulator

MONTH = (datetime(SINCE.year, 3, 1), datetime(SINCE.year, 3, 31, 23, 59, 59))


@pytest.fixture(scope="module")
def fiel() -> Fiel:
    from ..sync.conftest import FIEL_DIR, PASSWORD_FILE

    password = PASSWORD_FILE.read_text().strip()
    return Fiel.load(FIEL_DIR / "EKU9003173C9.cer", FIEL_DIR / "EKU9003173C9.key", password)


@pytest.fixture
def strict() -> Iterator[Emulator]:
    with emulator(signature_check="strict", xml_per_package=20, metadata_per_package=25) as sat:
        yield sat


def client(fiel: Fiel, sat: Emulator, family: Any = "cfdi", **options: Any) -> SatClient:
    return SatClient(
        fiel, Endpoints.local(sat.base_url, family), retry_wait=(0.01, 0.05), **options
    )


def until_done(sat_client: SatClient, request_id: str) -> VerifyResult:
    for _ in range(200):
        result = sat_client.verify(request_id)
        if result.state not in (RequestState.ACCEPTED, RequestState.IN_PROGRESS):
            return result
        time.sleep(0.01)
    raise AssertionError("the request never finished")


def fetch_all(sat_client: SatClient, query: Query, folder: Path) -> tuple[VerifyResult, list[Path]]:
    asked = sat_client.query(query)
    assert asked.status.accepted, asked.status
    result = until_done(sat_client, asked.request_id)
    paths = []
    for package_id in result.package_ids:
        downloaded = sat_client.download(package_id, folder / f"{package_id}.zip")
        assert downloaded.status.accepted and downloaded.path is not None
        paths.append(downloaded.path)
    return result, paths


@pytest.mark.parametrize("direction", list(DownloadType))
@pytest.mark.parametrize("kind", list(RequestType))
def test_every_flow_passes_strict_signature_checks(
    fiel: Fiel, strict: Emulator, tmp_path: Path, direction: DownloadType, kind: RequestType
) -> None:
    status = DocumentStatus.ACTIVE if kind is RequestType.XML else None
    query = Query(
        start=MONTH[0],
        end=MONTH[1],
        download_type=direction,
        request_type=kind,
        document_status=status,
    )
    result, paths = fetch_all(client(fiel, strict), query, tmp_path)
    assert result.state is RequestState.FINISHED and result.request_status.accepted
    assert len(paths) >= 2  # small packages: the request is split in several
    assert [p.stem for p in paths] == [f"{p.stem[:-3]}_{i:02d}" for i, p in enumerate(paths, 1)]
    total = 0
    for path in paths:
        with open_package(path) as package:
            expected = MetadataPackage if kind is RequestType.METADATA else CfdiPackage
            assert isinstance(package, expected)
            total += sum(1 for _ in package)
    assert total == result.cfdi_count > 0
    assert strict.stats()["rfcs"][RFC]["signatures_rejected"] == 0


def test_uuid_query_returns_that_document(fiel: Fiel, strict: Emulator, tmp_path: Path) -> None:
    sat_client = client(fiel, strict)
    _, paths = fetch_all(sat_client, Query(start=MONTH[0], end=MONTH[1]), tmp_path / "meta")
    with MetadataPackage(paths[0]) as package:
        wanted = next(r.uuid for r in package if r.estatus is Estatus.VIGENTE)
    result, found = fetch_all(sat_client, Query(uuid=wanted), tmp_path / "one")
    assert result.cfdi_count == 1
    with CfdiPackage(found[0]) as package:
        assert [uuid for uuid, _ in package] == [wanted.upper()]


def test_retenciones_family(fiel: Fiel, strict: Emulator, tmp_path: Path) -> None:
    sat_client = client(fiel, strict, "retenciones")
    query = Query(start=MONTH[0], end=MONTH[1], request_type=RequestType.XML)
    result, paths = fetch_all(sat_client, query, tmp_path)
    assert result.cfdi_count > 0
    with CfdiPackage(paths[0]) as package:
        kinds = {d.summary.kind.value for d in package.documents()}
    assert kinds and all("retencion" in k.lower() for k in kinds)
    assert strict.stats()["rfcs"][RFC]["tokens_issued"]["retenciones"] >= 1


def test_sat_limits_come_back_as_typed_errors(fiel: Fiel, tmp_path: Path) -> None:
    with emulator(xml_cap=10, accept_delay=60) as sat:
        sat_client = client(fiel, sat)
        xml = Query(start=MONTH[0], end=MONTH[1], request_type=RequestType.XML)
        first = sat_client.query(xml)
        with pytest.raises(QueryRefused) as duplicate:  # the first one is still active
            sat_client.query(xml)
        assert duplicate.value.sat_code is SatCode.SOLICITUD_DUPLICADA
        assert "5005" in str(duplicate.value)
        sat.advance(seconds=61)
        assert until_done(sat_client, first.request_id).request_status.sat_code is (
            SatCode.TOPE_MAXIMO
        )
        second = sat_client.query(xml)
        assert second.status.accepted
        sat.advance(seconds=61)
        until_done(sat_client, second.request_id)
        with pytest.raises(QueryRefused) as third:
            sat_client.query(xml)
        assert third.value.sat_code is SatCode.SOLICITUDES_AGOTADAS
        instant = datetime(SINCE.year, 1, 1)
        empty = sat_client.query(Query(start=instant, end=instant.replace(second=1)))
        sat.advance(seconds=61)
        rejected = until_done(sat_client, empty.request_id)
        assert rejected.request_status.sat_code is SatCode.NO_ENCONTRADA


def test_download_limits_and_expiry(fiel: Fiel, tmp_path: Path) -> None:
    with emulator() as sat:
        sat_client = client(fiel, sat)
        asked = sat_client.query(Query(start=MONTH[0], end=MONTH[1]))
        package_id = until_done(sat_client, asked.request_id).package_ids[0]
        assert sat_client.download(package_id, tmp_path / "a.zip").status.accepted
        assert sat_client.download(package_id, tmp_path / "b.zip").status.accepted
        third = sat_client.download(package_id, tmp_path / "c.zip")
        assert third.status.sat_code is SatCode.MAXIMO_DE_DESCARGAS and third.path is None
        received = Query(start=MONTH[0], end=MONTH[1], download_type=DownloadType.RECEIVED)
        other = sat_client.query(received)
        fresh = until_done(sat_client, other.request_id).package_ids[0]
        sat.advance(hours=73)
        expired = sat_client.download(fresh, tmp_path / "d.zip")  # the token expired too
        assert expired.status.sat_code is SatCode.PAQUETE_NO_EXISTE and expired.path is None
        assert sat_client.verify(other.request_id).state is RequestState.EXPIRED


def test_token_expiry_mid_run_is_transparent(fiel: Fiel) -> None:
    with emulator() as sat:
        sat_client = client(fiel, sat)
        asked = sat_client.query(Query(start=MONTH[0], end=MONTH[1]))
        sat.advance(minutes=10)  # the emulated SAT now considers the token expired
        assert sat_client.verify(asked.request_id).status.accepted
        assert sat.stats()["rfcs"][RFC]["tokens_issued"]["cfdi"] == 2


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("descargar=disconnect", NetworkError),
        ("descargar=truncate", IncompleteResponseError),
        ("verifica=soapfault", SoapFault),
        ("verifica=slow:1", SatTimeoutError),
    ],
)
def test_faults_become_typed_errors(
    fiel: Fiel, tmp_path: Path, spec: str, expected: type[Exception] | tuple[type[Exception], ...]
) -> None:
    with emulator() as sat:
        sat_client = client(fiel, sat, timeout=(2.0, 0.3), retries=1)
        asked = sat_client.query(Query(start=MONTH[0], end=MONTH[1]))
        package_id = until_done(sat_client, asked.request_id).package_ids[0]
        sat.set_faults(spec)
        with pytest.raises(expected):
            if spec.startswith("descargar"):
                sat_client.download(package_id, tmp_path / "p.zip")
            else:
                sat_client.verify(asked.request_id)
        assert not list(tmp_path.iterdir())


def test_transient_faults_are_retried_where_safe(fiel: Fiel) -> None:
    with emulator(faults="verifica=http500*2; verifica=error404*1") as sat:
        sat_client = client(fiel, sat, retries=4)
        asked = sat_client.query(Query(start=MONTH[0], end=MONTH[1]))
        assert sat_client.verify(asked.request_id).status.accepted  # 500, 500, 404, ok
        assert sum(sat.stats()["faults_injected"].values()) == 3
        sat.set_faults("verifica=error404")
        unhandled = client(fiel, sat, retries=2).verify(asked.request_id)
        assert unhandled.status.sat_code is SatCode.ERROR_NO_CONTROLADO  # kept, not crashed on
