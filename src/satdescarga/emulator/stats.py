"""What the admin API reports about the emulated SAT (`GET /__admin/stats`): per RFC, the tokens
issued by family, the signatures rejected, the requests received (criteria, state, packages with
their downloads and size) and the requests rejected; plus the totals.

Observation only: nothing here changes what SAT answers. The counters share the Service's lock,
so a report is consistent with the requests it lists.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from satdescarga.clock import EmulatedClock
from satdescarga.codes import SatCode
from satdescarga.emulator.records import DownloadRequest, Status
from satdescarga.vocabulary import ServiceFamily


@dataclass(slots=True)
class RfcStats:
    tokens_issued: dict[str, int] = field(
        default_factory=lambda: {f.value: 0 for f in ServiceFamily}
    )
    signatures_rejected: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


class Observations:
    """The counters behind the admin report, forgotten on reset."""

    def __init__(self, clock: EmulatedClock, lock: threading.RLock) -> None:
        self.clock = clock
        self._lock = lock
        self.rfc_stats: dict[str, RfcStats] = {}
        self.signatures_rejected = 0
        self.autentica_rejected = 0

    def stats_for(self, rfc: str) -> RfcStats:
        with self._lock:
            return self.rfc_stats.setdefault(rfc, RfcStats())

    def token_issued(self, rfc: str, family: ServiceFamily) -> None:
        with self._lock:
            self.stats_for(rfc).tokens_issued[family.value] += 1

    def autentica_refused(self) -> None:
        with self._lock:
            self.autentica_rejected += 1

    def signature_rejected(self, rfc: str | None) -> None:
        with self._lock:
            self.signatures_rejected += 1
            if rfc:
                self.stats_for(rfc).signatures_rejected += 1

    def record_rejection(
        self,
        rfc: str,
        family: ServiceFamily,
        operation: str,
        code: SatCode,
        message: str,
        **extra: Any,
    ) -> None:
        with self._lock:
            self.stats_for(rfc).rejected.append(
                {
                    "family": family.value,
                    "operation": operation,
                    "cod_estatus": str(int(code)),
                    "mensaje": message,
                    "at": self.clock.now().isoformat(),
                    **extra,
                }
            )

    def report(
        self, now: datetime, requests: Iterable[tuple[DownloadRequest, Status]]
    ) -> dict[str, Any]:
        """The admin report at `now`, given every request with its status at that instant."""
        with self._lock:
            rfcs: dict[str, dict[str, Any]] = {}
            for rfc, stats in self.rfc_stats.items():
                rfcs[rfc] = {
                    "tokens_issued": dict(stats.tokens_issued),
                    "signatures_rejected": stats.signatures_rejected,
                    "requests": [],
                    "rejected_requests": list(stats.rejected),
                }
            for request, status in requests:
                entry = rfcs.setdefault(
                    request.query.rfc,
                    {
                        "tokens_issued": {f.value: 0 for f in ServiceFamily},
                        "signatures_rejected": 0,
                        "requests": [],
                        "rejected_requests": [],
                    },
                )
                entry["requests"].append(
                    {
                        "id_solicitud": request.id,
                        "created": request.created.isoformat(),
                        "criteria": request.query.to_json(),
                        "estado_solicitud": int(status.state),
                        "codigo_estado_solicitud": str(int(status.code)),
                        "numero_cfdis": status.count,
                        "packages": [
                            {
                                "id": p.id,
                                "records": p.records,
                                "downloads": p.downloads,
                                "size": p.size,
                            }
                            for p in request.packages
                        ],
                    }
                )
            return {
                "now": now.isoformat(),
                "rfcs": rfcs,
                "tokens_issued": sum(
                    sum(s.tokens_issued.values()) for s in self.rfc_stats.values()
                ),
                "signatures_rejected": self.signatures_rejected,
                "autentica_rejected": self.autentica_rejected,
            }
