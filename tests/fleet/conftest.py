"""Fleet tests talk to a real PostgreSQL, started by the tests from the machine's own binaries
(one server per session, a fresh database per test), and to the real emulator."""

from __future__ import annotations

import itertools
from pathlib import Path

import psycopg
import pytest

from satdescarga.drills.fleet_demo import demo_rfcs
from satdescarga.drills.throwaway import ThrowawayPostgres
from satdescarga.emulator.security.ca import TEST_PASSWORD, issue_fiel
from satdescarga.fleet.database import init
from satdescarga.fleet.vault import FielFiles, MasterKey

from ..conftest import TESTS

SAT_FIEL = TESTS / "fixtures" / "sat-test-fiel"
SAT_CSD = TESTS / "fixtures" / "sat-test-csd"
EKU = "EKU9003173C9"
_numbers = itertools.count()


@pytest.fixture
def fleet_db(postgres: ThrowawayPostgres) -> str:
    """The URL of a new, initialized fleet database."""
    name = f"fleet_{next(_numbers)}"
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = postgres.url.rsplit("/", 1)[0] + f"/{name}"
    init(url)
    return url


@pytest.fixture(scope="session")
def master_key() -> MasterKey:
    return MasterKey.parse(MasterKey.generate())


def sat_test_fiel(folder: Path = SAT_FIEL) -> FielFiles:
    return FielFiles(
        (folder / f"{EKU}.cer").read_bytes(),
        (folder / f"{EKU}.key").read_bytes(),
        (folder / f"{EKU}-password.txt").read_text().strip(),
    )


@pytest.fixture(scope="session")
def issued(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FielFiles]:
    """E.firmas of the emulator's test authority, by RFC (made once per session)."""
    return {}


def issued_fiel(cache: dict[str, FielFiles], folder: Path, rfc: str) -> FielFiles:
    if rfc not in cache:
        cer, key, _ = issue_fiel(rfc, folder, password=TEST_PASSWORD)
        cache[rfc] = FielFiles(cer.read_bytes(), key.read_bytes(), TEST_PASSWORD)
    return cache[rfc]


def fleet_rfcs(count: int) -> list[str]:
    """`count` distinct RFCs of SAT's shape."""
    return demo_rfcs(count, "FLT")
