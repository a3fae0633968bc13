"""The fleet's overview page chosen in SQL: which taxpayers (filtered, sorted, one page) and
how many by state, from the `taxpayers` table alone; only the page's rows are then read in
full (`fleet.status.standings` for those RFCs). Sorting by lag needs the ledger's progress of
every taxpayer: fleet.py sorts those RFCs by the progress it keeps.

Orders as `fleet.sorted_page` sorts rows (codepoint order, the RFC last), so both paths give
the same pages. Sorting by lag, SQL gives every matching RFC and fleet.py sorts them by the
ledger's progress it keeps (no row is read in full but the page's).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text

from satdescarga.fleet.states import TaxpayerState
from satdescarga.readmodel.fleet_documents import scoped
from satdescarga.readmodel.model import Scope, TaxpayerFilters, TaxpayerSort

_STATE = (
    f"(CASE WHEN valid_until <= :instant THEN '{TaxpayerState.FIEL_EXPIRED.value}' ELSE state END)"
)
_KEYS = {
    TaxpayerSort.RFC: [],
    TaxpayerSort.NAME: ['lower(name) COLLATE "C"'],
    TaxpayerSort.STATE: [f'{_STATE} COLLATE "C"'],
    TaxpayerSort.EXPIRY: ["valid_until"],
    TaxpayerSort.LAST_RUN: ["last_run_at"],
    TaxpayerSort.LAG: [],  # every matching RFC, sorted by fleet.py from the ledger's progress
}


def chosen(
    engine: Engine, scope: Scope, filters: TaxpayerFilters, instant: datetime
) -> tuple[list[str], int, dict[str, int]]:
    """(the page's RFCs in order, rows matching the filters, rows by state in the scope);
    sorting by lag, every matching RFC (by RFC)."""
    params: dict[str, Any] = {"instant": instant}
    within = scoped(scope, "rfc", params)
    where = [within]
    if filters.search and filters.search.strip():
        params["needle"] = filters.search.strip().casefold()
        where.append("(strpos(lower(rfc), :needle) > 0 OR strpos(lower(name), :needle) > 0)")
    if filters.states:
        params["states"] = list(filters.states)
        where.append(f"{_STATE} = ANY(:states)")
    way = "DESC" if filters.descending else "ASC"
    nulls = "NULLS LAST" if filters.descending else "NULLS FIRST"  # None sorts first
    order = [f"{key} {way} {nulls}" for key in _KEYS[filters.sort]]
    order.append(f'rfc COLLATE "C" {way}')
    per_page = max(1, filters.per_page)
    params["limit"], params["offset"] = per_page, (max(1, filters.page) - 1) * per_page
    if filters.sort is TaxpayerSort.LAG:
        params["limit"], params["offset"] = None, 0
    with engine.connect() as db:
        by_state = {
            str(state): int(n)
            for state, n in db.execute(
                text(f"SELECT {_STATE}, count(*) FROM taxpayers WHERE {within} GROUP BY 1"),
                params,
            )
        }
        rows = db.execute(
            text(
                f"SELECT rfc, count(*) OVER () FROM taxpayers WHERE {' AND '.join(where)} "
                f"ORDER BY {', '.join(order)} LIMIT :limit OFFSET :offset"
            ),
            params,
        ).all()
        total = int(rows[0][1]) if rows else 0
        if not rows and params["offset"]:  # past the last page: still say how many match
            total = int(
                db.execute(
                    text(f"SELECT count(*) FROM taxpayers WHERE {' AND '.join(where)}"), params
                ).scalar_one()
            )
    return [str(r[0]) for r in rows], total, by_state
