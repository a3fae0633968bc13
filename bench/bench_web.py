"""`satdescarga serve`'s read model at scale (issue 22): the overview of BENCH_WEB_TAXPAYERS
(10,000) taxpayers, `/documents` over BENCH_WEB_DOCUMENTS (10,000,000) metadata rows, and the
change feed over BENCH_WEB_CHANGES (1,000,000) changes, read through `FleetReadModel` (what
the pages and the API call; their HTTP layer adds the same small cost to every call).

The fleet is generated straight into PostgreSQL (no emulator): taxpayers with 24 monthly
windows each, metadata rows spread over them and two years, changes. Targets: overview p95 <
300 ms, documents p95 < 50 ms (first pages, pages after a cursor, by taxpayer, by date, by
counterpart, by UUID), changes >= 20,000 per second walked in pages of 1,000.
"""

from __future__ import annotations

import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from bench.measure import peak_rss_mb, table
from satdescarga.drills.served import served
from satdescarga.drills.throwaway import throwaway
from satdescarga.fleet.counts import RECOUNT
from satdescarga.fleet.database import engine_for, init
from satdescarga.fleet.policy import Policy
from satdescarga.readmodel import DocumentFilters, Scope, TaxpayerFilters, TaxpayerSort
from satdescarga.readmodel.fleet import FleetReadModel
from satdescarga.web.accounts.postgres import PostgresAccounts
from satdescarga.web.app import build_app
from satdescarga.web.context import Settings, WebContext
from satdescarga.web.principal import Role

TAXPAYERS = int(os.environ.get("BENCH_WEB_TAXPAYERS", "10000"))
DOCUMENTS = int(os.environ.get("BENCH_WEB_DOCUMENTS", "10000000"))
CHANGES = int(os.environ.get("BENCH_WEB_CHANGES", "1000000"))
NOW = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)
EVERY = Scope.everything()

_TAXPAYERS = """
INSERT INTO taxpayers (rfc, name, serial, valid_until, sealed, key_id, policy, added_at,
    next_run_at, last_run_at, last_result, state, reason)
SELECT 'B' || lpad(g::text, 8, '0') || 'AB1', 'Contribuyente ' || g, '3000' || g,
    TIMESTAMPTZ '2025-03-20' + (g % 900) * INTERVAL '1 day', '\\x00', 'llave', :policy,
    TIMESTAMPTZ '2024-01-01', TIMESTAMP '2025-03-11' + (g % 24) * INTERVAL '1 hour',
    TIMESTAMP '2025-03-10' + (g % 24) * INTERVAL '1 hour', 'current',
    (ARRAY['al_dia', 'pendiente', 'con_error', 'atencion'])[1 + g % 4], NULL
FROM generate_series(1, CAST(:n AS bigint)) g
"""
_WINDOWS = """
INSERT INTO windows (job, start, "end", state, created_at, updated_at, purpose)
SELECT json_build_object('rfc', t.rfc, 'direction', 'recibidos', 'kind', 'metadata')::text,
    to_char(TIMESTAMP '2023-03-01' + m * INTERVAL '1 month', 'YYYY-MM-DD"T"HH24:MI:SS'),
    to_char(TIMESTAMP '2023-04-01' + m * INTERVAL '1 month' - INTERVAL '1 second',
            'YYYY-MM-DD"T"HH24:MI:SS'),
    CASE WHEN m = 23 AND t.rfc LIKE '%5AB1' THEN 'planned' ELSE 'done' END,
    '2025-03-10T00:00:00', '2025-03-10T00:00:00', 'period'
FROM taxpayers t, generate_series(0, 23) m
"""
_METADATA = """
INSERT INTO fleet_metadata (taxpayer, direction, uuid, rfc_emisor, nombre_emisor, rfc_receptor,
    nombre_receptor, fecha_emision, monto, efecto_comprobante, estatus)
SELECT 'B' || lpad((1 + g % :taxpayers)::text, 8, '0') || 'AB1',
    CASE WHEN g % 2 = 0 THEN 'emitidos' ELSE 'recibidos' END,
    upper(md5(g::text)::uuid::text), 'CP' || lpad((g % 997)::text, 8, '0') || 'X1', 'Emisor',
    'CR' || lpad((g % 991)::text, 8, '0') || 'X1', 'Receptor',
    TIMESTAMP '2023-03-01' + (g::bigint * 7919 % 63000000) * INTERVAL '1 second',
    (g % 100000) / 100.0, 'I', CASE WHEN g % 20 = 0 THEN 'Cancelado' ELSE 'Vigente' END
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g
"""
_CHANGES = """
INSERT INTO fleet_changes (taxpayer, uuid, change, estatus, fecha_emision, rfc_emisor,
    rfc_receptor, monto, discovered_at)
SELECT 'B' || lpad((1 + g % :taxpayers)::text, 8, '0') || 'AB1', upper(md5(g::text)::uuid::text),
    'aparecio', 'Vigente', TIMESTAMP '2025-01-01' + g * INTERVAL '1 second', 'CP1', 'CR1',
    g % 1000, TIMESTAMP '2025-01-01' + g * INTERVAL '1 second'
FROM generate_series(1, CAST(:n AS bigint)) g
"""


def _load(url: str) -> float:
    began = time.perf_counter()
    engine = engine_for(url)
    policy = Policy(since="2023-03-01").to_json()
    with engine.begin() as db:
        db.execute(text(_TAXPAYERS), {"policy": policy, "n": TAXPAYERS})
        db.execute(text(_WINDOWS))
        db.execute(text("ALTER TABLE fleet_metadata DISABLE TRIGGER USER"))
    step = 1_000_000
    for first in range(1, DOCUMENTS + 1, step):
        with engine.begin() as db:
            last = min(DOCUMENTS, first + step - 1)
            params = {"taxpayers": TAXPAYERS, "first": first, "last": last}
            db.execute(text(_METADATA), params)
    with engine.begin() as db:
        db.execute(text("ALTER TABLE fleet_metadata ENABLE TRIGGER USER"))
        db.execute(text(_CHANGES), {"taxpayers": TAXPAYERS, "n": CHANGES})
        db.execute(text(RECOUNT))  # loaded without the counting triggers
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
        db.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - began


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _times(calls: list[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        began = time.perf_counter()
        call()
        out.append(time.perf_counter() - began)
    return out


def _documents(read: FleetReadModel, rng: random.Random) -> list[Callable[[], object]]:
    def rfc() -> str:
        return f"B{1 + rng.randrange(TAXPAYERS):08d}AB1"

    def deep() -> object:
        filters = DocumentFilters(rfc=rfc())
        page = read.documents(EVERY, filters, 50, None)
        for _ in range(3):
            if page.next is None:
                break
            page = read.documents(EVERY, filters, 50, page.next)
        return page

    def dated() -> object:
        since = datetime(2023, 3, 1) + timedelta(days=rng.randrange(700))
        filters = DocumentFilters(since=since, until=since + timedelta(days=3))
        return read.documents(EVERY, filters, 50, None)

    def counterpart() -> object:
        filters = DocumentFilters(rfc=rfc(), counterpart=f"CR{rng.randrange(991):08d}X1")
        return read.documents(EVERY, filters, 50, None)

    def by_uuid() -> object:
        wanted = str(uuid.UUID(int=rng.getrandbits(128))).upper()
        return read.documents(EVERY, DocumentFilters(uuid=wanted), 50, None)

    kinds: list[Callable[[], object]] = [
        lambda: read.documents(EVERY, DocumentFilters(), 50, None),
        lambda: read.documents(EVERY, DocumentFilters(rfc=rfc()), 50, None),
        deep,
        dated,
        counterpart,
        by_uuid,
    ]
    return [kinds[i % len(kinds)] for i in range(300)]


def _over_http(url: str) -> tuple[float, float, float]:
    """The same through the served app (uvicorn on loopback, a person's session for the page,
    a token for the API): overview p95 (ms), documents p95 (ms), changes per second."""
    engine = engine_for(url)
    settings = Settings()
    accounts = PostgresAccounts(engine, settings, lambda: NOW)
    accounts.add_user("banco", Role.ADMIN, (), "una-contraseña-para-medir")
    token = accounts.add_token("banco", Role.VIEWER, ())
    context = WebContext(read=FleetReadModel.open(url, pool_size=4), accounts=accounts,
                         actions=None, settings=settings, clock=lambda: NOW)  # fmt: skip
    sorts = ["rfc", "nombre", "estado", "rezago", "vencimiento", "ultima"]
    try:
        with served(build_app(context)) as base, httpx.Client(base_url=base) as client:
            client.post("/login", data={"username": "banco",
                                        "password": "una-contraseña-para-medir"})  # fmt: skip
            pages = _times([
                lambda i=i: client.get("/", params={"orden": sorts[i % 6], "pagina": 1 + i % 200})  # type: ignore[misc]
                for i in range(30)
            ])  # fmt: skip
            api = {"Authorization": f"Bearer {token}"}
            rfcs = [f"B{1 + i * 37 % TAXPAYERS:08d}AB1" for i in range(100)]
            documents = _times([
                lambda r=r: client.get("/api/v1/documents", headers=api,  # type: ignore[misc]
                                       params={"rfc": r, "limit": 50})
                for r in rfcs
            ])  # fmt: skip
            began, walked, cursor = time.perf_counter(), 0, None
            while True:
                params: dict[str, str | int] = {"limit": 1000}
                if cursor:
                    params["cursor"] = cursor
                answer = client.get("/api/v1/changes", headers=api, params=params).json()
                if not answer["items"]:
                    break
                walked += len(answer["items"])
                cursor = answer["next"]
            rate = walked / (time.perf_counter() - began)
    finally:
        context.read.close()
        engine.dispose()
    return _p(pages, 0.95), _p(documents, 0.95), rate


def main() -> None:
    with throwaway() as postgres:
        init(postgres.url)
        loaded = _load(postgres.url)
        read = FleetReadModel.open(postgres.url, pool_size=2)
        rng = random.Random(22)
        sorts = list(TaxpayerSort)
        overview = _times(
            [
                lambda i=i: read.taxpayers(  # type: ignore[misc]
                    EVERY,
                    TaxpayerFilters(
                        sort=sorts[i % len(sorts)],
                        page=1 + i % 200,
                        per_page=50,
                        search="12" if i % 3 == 0 else None,
                    ),
                    NOW,
                )
                for i in range(30)
            ]
        )
        documents = _times(_documents(read, rng))
        began, walked, cursor = time.perf_counter(), 0, None
        while True:
            page = read.changes(EVERY, cursor, 1000)
            if not page.items:
                break
            walked += len(page.items)
            cursor = page.next
        feed = time.perf_counter() - began
        read.close()
        http = _over_http(postgres.url)
    rate = walked / feed if feed else 0.0
    rows: list[list[object]] = [
        ["overview, first (ms)", f"{overview[0] * 1000:.0f}", "", ""],
        ["overview p95 (ms)", f"{_p(overview, 0.95):.0f}", "< 300", _p(overview, 0.95) < 300],
        ["documents p95 (ms)", f"{_p(documents, 0.95):.1f}", "< 50", _p(documents, 0.95) < 50],
        ["documents p50 (ms)", f"{_p(documents, 0.5):.1f}", "", ""],
        ["changes per second", f"{rate:,.0f}", ">= 20,000", rate >= 20_000],
        ["HTTP: overview page p95 (ms)", f"{http[0]:.0f}", "< 300", http[0] < 300],
        ["HTTP: /api/v1/documents p95 (ms)", f"{http[1]:.1f}", "< 50", http[1] < 50],
        ["HTTP: /api/v1/changes per second", f"{http[2]:,.0f}", ">= 20,000", http[2] >= 20_000],
    ]
    median = statistics.median(overview) * 1000
    print(
        f"{TAXPAYERS:,} taxpayers, {DOCUMENTS:,} documents, {CHANGES:,} changes (loaded in "
        f"{loaded:.0f} s; {walked:,} changes walked; peak RSS {peak_rss_mb():.0f} MB; "
        f"median overview {median:.0f} ms)"
    )
    print(table(["measure", "value", "target", "met"], rows))


if __name__ == "__main__":
    main()
