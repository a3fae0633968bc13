"""The read model's tests: one small fleet kept by real steps against the emulator (EKU and
one more with their documents, three new ones), and EKU's folder after a real `sync`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from satdescarga.drills.throwaway import ThrowawayPostgres
from satdescarga.emulator import Emulator
from satdescarga.emulator.security.ca import TEST_PASSWORD, issue_fiel
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import engine_for, init, reader_for
from satdescarga.fleet.limits import Limits, SharedLimits
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.step import StepResult, Worker, run_step
from satdescarga.fleet.vault import FielFiles, MasterKey
from satdescarga.readmodel.fleet import FleetReadModel
from satdescarga.readmodel.folder import FolderReadModel

from ..fleet.conftest import EKU, fleet_rfcs, sat_test_fiel

START = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)
SINCE = "2025-02-01"
_databases = itertools.count()


@dataclass
class ReadFleet:
    url: str
    rfcs: list[str]  # EKU first
    synced: list[str]  # the first two
    read: FleetReadModel


def new_database(postgres: ThrowawayPostgres, prefix: str) -> str:
    name = f"{prefix}_{next(_databases)}"
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = postgres.url.rsplit("/", 1)[0] + f"/{name}"
    init(url)
    return url


def _fiel(folder: Path, rfc: str) -> FielFiles:
    issue_fiel(rfc, folder, password=TEST_PASSWORD)
    cer, key = (folder / f"{rfc}.cer").read_bytes(), (folder / f"{rfc}.key").read_bytes()
    return FielFiles(cer, key, TEST_PASSWORD)


@pytest.fixture(scope="session")
def read_sat() -> Iterator[Emulator]:
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=3, seed=7) as sat:  # fmt: skip
        yield sat


@pytest.fixture(scope="session")
def read_fleet(
    postgres: ThrowawayPostgres, read_sat: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReadFleet]:
    assert read_sat.app is not None
    url = new_database(postgres, "readmodel")
    key = MasterKey.parse(MasterKey.generate())
    engine = engine_for(url)
    worker = Worker(
        engine=engine,
        reader=reader_for(url),
        vault=key,
        limits=SharedLimits(engine, Limits(rate=1000.0)),
        spool=tmp_path_factory.mktemp("spool"),
        endpoint_base=read_sat.base_url,
        clock=read_sat.app.clock.now,
    )
    folder = tmp_path_factory.mktemp("fiel")
    rfcs = [EKU, *fleet_rfcs(4)]
    for rfc in rfcs:
        files = sat_test_fiel() if rfc == EKU else _fiel(folder, rfc)
        taxpayers.add(engine, key, files, Policy(since=SINCE), now=START)
    synced = rfcs[:2]
    for rfc in synced:
        for _ in range(4):
            if run_step(worker, rfc) is StepResult.CURRENT:
                break
        else:
            raise AssertionError(taxpayers.get(engine, rfc))
    engine.dispose()
    read = FleetReadModel.open(url, pool_size=2)
    yield ReadFleet(url, rfcs, synced, read)
    read.close()


@pytest.fixture(scope="session")
def read_folder(synced_folder: Path) -> Iterator[FolderReadModel]:
    """EKU's folder after a real `sync` of February 2025, read by a `FolderReadModel`."""
    read = FolderReadModel.open(synced_folder)
    yield read
    read.close()
