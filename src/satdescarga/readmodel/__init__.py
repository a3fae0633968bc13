"""One read model for every face (`serve`'s pages and API, and the CLI where it shows the same
facts): typed rows from a fleet (PostgreSQL) or from one taxpayer's folder (SQLite), behind one
interface, `ReadModel` (source.py).

- `model.py`: the rows and filters (`Scope`, `TaxpayerRow`, `DocumentRow`, `ChangeRow`, ...).
- `source.py`: the `ReadModel` protocol and the two ways to open one (`open_fleet`,
  `open_folder`).
- `cursor.py`: opaque keyset cursors (base64 of the last row's key).
- `fleet.py` / `folder.py`: the two implementations (`fleet_overview.py`: the overview's page
  chosen in SQL; `fleet_documents.py`: documents, XML, exports and the change feed;
  `fleet_ledger.py`: reconciliation, chart, requests; `folder_documents.py`: a folder's).

Orders: documents by FechaEmision newest first (then taxpayer, direction, UUID); the change
feed by the transaction that recorded each change, then its id (a fleet) or SQLite's rowid (a
folder); `changes` always gives a cursor to poll from. The fleet's overview reads the ledger's
progress (windows, requests, lost packages) at most every 10 s; the rest afresh.

Every function takes a `Scope` (the RFCs a person or token may see; `Scope.everything()` for an
admin without limits) and applies it in the query itself: a route cannot forget it. Something
out of scope reads exactly as something that does not exist (None, or no rows).
"""

from satdescarga.readmodel.model import (
    Alert,
    AlertKind,
    ChangeRow,
    DocumentDetail,
    DocumentFilters,
    DocumentRow,
    MonthCount,
    Page,
    RequestRow,
    Scope,
    TaxpayerDetail,
    TaxpayerFilters,
    TaxpayerPage,
    TaxpayerRow,
    TaxpayerSort,
)
from satdescarga.readmodel.source import ReadModel, open_fleet, open_folder

__all__ = [
    "Alert",
    "AlertKind",
    "ChangeRow",
    "DocumentDetail",
    "DocumentFilters",
    "DocumentRow",
    "MonthCount",
    "Page",
    "ReadModel",
    "RequestRow",
    "Scope",
    "TaxpayerDetail",
    "TaxpayerFilters",
    "TaxpayerPage",
    "TaxpayerRow",
    "TaxpayerSort",
    "open_fleet",
    "open_folder",
]
