"""Taxpayers and their sealed e.firmas: what `fleet add` refuses before writing anything, what
the vault refuses to open, key rotation, and secrets that never reach the database in clear."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from satdescarga.emulator.security.ca import issue_fiel
from satdescarga.errors import (
    CertificateExpiredError,
    FielKeyMismatchError,
    FielPasswordError,
    NotFielError,
)
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import engine_for
from satdescarga.fleet.policy import Policy, PolicyError
from satdescarga.fleet.vault import FielFiles, MasterKey, VaultError

from .conftest import EKU, SAT_CSD, sat_test_fiel

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def test_an_e_firma_is_added_sealed_and_opens_only_with_its_master_key(
    fleet_db: str, master_key: MasterKey
) -> None:
    engine = engine_for(fleet_db)
    files = sat_test_fiel()
    added = taxpayers.add(engine, master_key, files, Policy(), now=NOW)
    assert (added.rfc, added.valid_until.year) == (EKU, 2027)
    assert "sealed" not in repr(added) and files.password not in repr(files)
    assert taxpayers.open_fiel(engine, master_key, EKU).rfc == EKU
    other = MasterKey.parse(MasterKey.generate())
    with pytest.raises(VaultError, match="otra llave maestra"):
        taxpayers.open_fiel(engine, other, EKU)
    with engine.begin() as db:  # a sealed blob moved onto another row does not open
        sealed = db.execute(text("SELECT sealed FROM taxpayers")).scalar_one()
    with pytest.raises(VaultError, match="dañada"):
        master_key.open("AAA010101AAA", sealed, master_key.key_id)
    with pytest.raises(taxpayers.TaxpayerError, match="ya está en la flota"):
        taxpayers.add(engine, master_key, files, Policy(), now=NOW)
    engine.dispose()


def test_rotating_the_master_key_reseals_every_e_firma(fleet_db: str) -> None:
    engine = engine_for(fleet_db)
    old, new = MasterKey.parse(MasterKey.generate()), MasterKey.parse(MasterKey.generate())
    taxpayers.add(engine, old, sat_test_fiel(), Policy(), now=NOW)
    assert taxpayers.rotate(engine, old, new) == 1
    assert taxpayers.open_fiel(engine, new, EKU).rfc == EKU
    with pytest.raises(VaultError):
        taxpayers.open_fiel(engine, old, EKU)
    assert taxpayers.get(engine, EKU).key_id == new.key_id
    engine.dispose()


def test_unusable_e_firmas_are_refused_before_anything_is_written(
    fleet_db: str, master_key: MasterKey, tmp_path: Path
) -> None:
    engine = engine_for(fleet_db)
    fiel = sat_test_fiel()
    csd = FielFiles(
        (SAT_CSD / f"{EKU}.cer").read_bytes(),
        (SAT_CSD / f"{EKU}.key").read_bytes(),
        (SAT_CSD / f"{EKU}-password.txt").read_text().strip(),
    )
    with pytest.raises(NotFielError):
        taxpayers.add(engine, master_key, csd, Policy(), now=NOW)
    with pytest.raises(FielPasswordError):
        taxpayers.add(engine, master_key, replace(fiel, password="otra"), Policy(), now=NOW)
    with pytest.raises(FielKeyMismatchError):
        taxpayers.add(engine, master_key, replace(fiel, key=csd.key, password=csd.password),
                      Policy(), now=NOW)  # fmt: skip
    cer, key, _ = issue_fiel(
        "XIA190128J61",
        tmp_path,
        password="12345678a",
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        valid_until=datetime(2021, 1, 1, tzinfo=UTC),
    )
    expired = FielFiles(cer.read_bytes(), key.read_bytes(), "12345678a")
    with pytest.raises(CertificateExpiredError):
        taxpayers.add(engine, master_key, expired, Policy(), now=NOW)
    assert taxpayers.listed(engine) == []
    engine.dispose()


def test_policies_are_checked_and_kept(fleet_db: str, master_key: MasterKey) -> None:
    with pytest.raises(PolicyError):
        Policy(directions=("enviados",))
    with pytest.raises(PolicyError):
        Policy(since="2025-13-01")
    with pytest.raises(PolicyError):
        Policy(max_active=0)
    engine = engine_for(fleet_db)
    taxpayers.add(engine, master_key, sat_test_fiel(), Policy(), now=NOW)
    changed = Policy().changed(kinds=("metadata",), every_hours=2.0)
    taxpayers.set_policy(engine, EKU, changed)
    kept = taxpayers.get(engine, EKU).policy
    assert kept == changed and [j.kind.value.value for j in kept.jobs(EKU, "cfdi")] == [
        "Metadata",
        "Metadata",
    ]
    taxpayers.remove(engine, EKU)
    with pytest.raises(taxpayers.TaxpayerError):
        taxpayers.remove(engine, EKU)
    engine.dispose()


def secrets_of(files: FielFiles) -> list[bytes]:
    """What must never appear in clear: the password, the key (raw, base64, hex)."""
    return [
        files.password.encode(),
        files.key[64:96],
        base64.b64encode(files.key)[40:80],
        files.key[64:96].hex().encode(),
    ]


def database_dump(url: str) -> bytes:
    """Every row of every table (the sealed column left out), as text."""
    engine = engine_for(url)
    chunks: list[bytes] = []
    with engine.connect() as db:
        tables = db.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        for table in list(tables):
            columns = db.execute(
                text("SELECT column_name FROM information_schema.columns "
                     "WHERE table_name = :t AND column_name <> 'sealed'"), {"t": table},
            ).scalars()  # fmt: skip
            names = ", ".join(f'"{c}"' for c in columns)
            for row in db.execute(text(f'SELECT {names} FROM "{table}"')):
                chunks.append(repr(tuple(row)).encode())
    engine.dispose()
    return b"\n".join(chunks)
