"""What the fleet keeps current for one taxpayer, and how often (`fleet policy`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from satdescarga.client import RequestType
from satdescarga.client.query import oldest_start, start_problem
from satdescarga.errors import ConfigurationError
from satdescarga.sync.calendar import Calendar
from satdescarga.sync.plan import Job
from satdescarga.vocabulary import DownloadType

DIRECTIONS = {"emitidos": DownloadType.ISSUED, "recibidos": DownloadType.RECEIVED}
KINDS = {"metadata": RequestType.METADATA, "xml": RequestType.XML}
SERVICES = ("cfdi", "retenciones")


class PolicyError(ConfigurationError, ValueError):
    """A policy value the fleet cannot follow."""


@dataclass(frozen=True)
class Policy:
    """Defaults: issued and received, metadata and XML, CFDI, from the first day of the
    previous month; the keep-current cadence of `sync --no-wait`. `services`: CFDI,
    Retenciones or both (each step of the taxpayer then goes through both, one after the
    other, under the taxpayer's one lock)."""

    directions: tuple[str, ...] = ("emitidos", "recibidos")
    kinds: tuple[str, ...] = ("metadata", "xml")
    services: tuple[str, ...] = ("cfdi",)
    since: str | None = None  # ISO date: history depth (None: the previous month)
    window: str = "month"  # 'month' or 'Nd'
    settle_days: float = 3.0
    sweep_every_hours: float = 6.0
    recheck_every_days: float = 7.0
    recheck_days: float = 90.0
    every_hours: float = 6.0  # a current taxpayer is looked at again after this long
    poll_minutes: float = 15.0  # with requests pending at SAT, the next look after this long
    max_active: int = 4  # requests in flight at SAT for this taxpayer, at most
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.directions or any(d not in DIRECTIONS for d in self.directions):
            raise PolicyError("direcciones válidas: emitidos, recibidos")
        if not self.kinds or any(k not in KINDS for k in self.kinds):
            raise PolicyError("tipos válidos: metadata, xml")
        if not self.services or any(s not in SERVICES for s in self.services):
            raise PolicyError("servicios válidos: cfdi, retenciones")
        for name in ("directions", "kinds", "services"):
            if len(set(getattr(self, name))) != len(getattr(self, name)):
                raise PolicyError(f"valores repetidos en {name}: {','.join(getattr(self, name))}")
        if self.since is not None:
            try:
                date.fromisoformat(self.since)
            except ValueError:
                raise PolicyError(f"fecha inválida: {self.since} (use AAAA-MM-DD)") from None
        if self.max_active < 1 or self.every_hours <= 0 or self.poll_minutes <= 0:
            raise PolicyError("max_active, every_hours y poll_minutes deben ser positivos")
        if self.window != "month" and not (
            self.window.endswith("d") and self.window[:-1].isdigit() and int(self.window[:-1])
        ):
            raise PolicyError("ventana: 'month' o un número de días como '7d'")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Policy:
        fields = json.loads(text)
        if "service" in fields:  # the first release's policies named one service
            fields["services"] = [fields.pop("service")]
        for name in ("directions", "kinds", "services"):
            fields[name] = tuple(fields[name])
        return cls(**fields)

    def changed(self, **values: Any) -> Policy:
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def jobs(self, rfc: str, service_name: str) -> list[Job]:
        """The taxpayer's jobs on one service (a step runs each service's on its client)."""
        return [
            Job(rfc, service_name, DIRECTIONS[d], KINDS[k])
            for d in self.directions
            for k in self.kinds
        ]

    def start(self, now: datetime) -> datetime:
        """The first day kept (business time)."""
        if self.since is not None:
            return datetime.fromisoformat(self.since)
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return (first - timedelta(days=1)).replace(day=1)

    def check_since(self, now: datetime) -> None:
        """Refuse a `since` that `sync --since` would refuse (business time `now`): in the
        future, or older than SAT keeps (six years)."""
        if self.since is None:
            return
        start = datetime.fromisoformat(self.since)
        problems = [problem] if (problem := start_problem(start, now.date())) else []
        if start > now:
            problems.append(f"el periodo empieza en el futuro ({start:%Y-%m-%d})")
        if problems:
            raise PolicyError("; ".join(problems))

    def history_start(self, known: list[datetime | None], now: datetime) -> datetime | None:
        """Where a step's plan starts, given where the ledger says each job's period starts
        (`known`): `since` when set (moved back, the older months are asked for next), the
        default start for a job without history, else None (the ledger's); never before what
        SAT keeps (six years back, as `since` passed on long ago may now be)."""
        floor = oldest_start(now.date())
        starts = [start for start in known if start is not None]
        if self.since is not None or len(starts) < len(known):
            start = self.start(now)
        elif starts and min(starts) < floor:
            start = floor
        else:
            return None
        return max(start, floor)

    def calendar(self, since: datetime | None) -> Calendar:
        days = None if self.window == "month" else int(self.window[:-1])
        return Calendar(
            since,
            None,
            days,
            settle=timedelta(days=self.settle_days),
            sweep_every=timedelta(hours=self.sweep_every_hours),
            recheck_every=timedelta(days=self.recheck_every_days),
            recheck_horizon=timedelta(days=self.recheck_days),
        )
