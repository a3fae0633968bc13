"""Every option of the emulator in one frozen dataclass (shared by the CLI, `Emulator` and the
pytest fixture). Durations are in seconds of emulated time unless said otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, TypedDict, get_args

SignatureCheck = Literal["strict", "sat", "off"]
Latency = Literal["fixed", "realistic"]
LATENCIES: tuple[str, ...] = get_args(Latency)
SIGNATURE_CHECKS: tuple[str, ...] = get_args(SignatureCheck)


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorConfig:
    """How the emulated SAT behaves. Defaults follow SAT's documented or observed limits."""

    seed: int = 0
    """Seed of the synthetic corpus: same seed + RFC + period => same documents and UUIDs."""
    signature_check: SignatureCheck = "sat"
    """`strict`: as declared; `sat`: what production accepts; `off`: structure + certificate."""
    clock_speed: float = 1.0
    """Emulated seconds per real second."""
    start: datetime | None = None
    """Emulated start instant (UTC if naive); default: the real current time."""
    synthetic: bool = True
    """Generate the synthetic corpus for every RFC that authenticates."""
    daily_documents: int = 20
    """Synthetic documents per day, per RFC, family and direction (issued / received)."""
    documents: Path | None = None
    """A folder of the user's own CFDI / Retenciones XML files, served besides the corpus."""
    xml_cap: int = 200_000
    """Most XML (CFDI) records one request may yield (5003 beyond)."""
    metadata_cap: int = 1_000_000
    """Most metadata records one request may yield (5003 beyond)."""
    xml_per_package: int = 20_000
    """XML documents per package: more records => several packages (_01, _02...)."""
    metadata_per_package: int = 200_000
    """Metadata rows per package."""
    accept_delay: float = 2.0
    """Seconds a request stays Aceptada (EstadoSolicitud 1)."""
    process_delay: float = 5.0
    """Seconds it then stays En proceso (2) before Terminada (3) or Rechazada (5)."""
    latency: Latency = "fixed"
    """`fixed`: every request waits `accept_delay` then `process_delay`. `realistic`: each
    request's wait is drawn from the seed (timeline.py): mostly minutes, some hours, a few
    days, and about 1 in 100 stuck in state 1 for five days, then Rechazada."""
    certification_lag: float = 0.0
    """Hours: a document dated T is visible from T + a lag drawn per document in [0, this]."""
    outages: tuple[tuple[datetime, datetime], ...] = ()
    """Emulated periods (Mexico City time) in which every operation answers HTTP 503."""
    last_document: datetime | None = None
    """No synthetic document is dated after this (Mexico City time): a corpus that stops."""
    token_lifetime: float = 300.0
    """Life of a token and of the Autentica response Timestamp (5 minutes)."""
    package_lifetime: float = 72 * 3600.0
    """Packages live 72 h (then 5007 and EstadoSolicitud 6 Vencida)."""
    max_downloads: int = 2
    """Downloads allowed per package (5008 beyond)."""
    identical_xml_limit: int = 2
    """XML requests with identical criteria per lifetime (5002 beyond)."""
    folio_daily_limit: int = 5
    """SolicitaDescargaFolio requests per UUID per (Mexico City) day (5011 beyond)."""
    clock_skew: float = 300.0
    """Tolerance for the Autentica Timestamp (WCF's MaxClockSkew default: 5 minutes)."""
    faults: str = ""
    """Fault injection spec (see faults.py / README.md)."""
    secret: bytes | None = None
    """HMAC key for tokens; default: 32 random bytes per emulator."""
    work_dir: Path | None = None
    """Where packages are built (a temporary folder by default)."""
    max_request_bytes: int = 10 * 1024 * 1024
    """Largest request body accepted (after gzip decoding)."""

    def __post_init__(self) -> None:
        if self.latency not in LATENCIES:
            raise ValueError(f"latency must be one of {', '.join(LATENCIES)}")
        if self.certification_lag < 0:
            raise ValueError("certification_lag must not be negative")
        if any(start >= end for start, end in self.outages):
            raise ValueError("an outage must end after it starts")
        if self.signature_check not in SIGNATURE_CHECKS:
            raise ValueError(f"signature_check must be one of {', '.join(SIGNATURE_CHECKS)}")
        positive = {
            "clock_speed": self.clock_speed,
            "xml_per_package": self.xml_per_package,
            "metadata_per_package": self.metadata_per_package,
            "token_lifetime": self.token_lifetime,
            "package_lifetime": self.package_lifetime,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive")
        non_negative = {
            "daily_documents": self.daily_documents,
            "xml_cap": self.xml_cap,
            "metadata_cap": self.metadata_cap,
            "accept_delay": self.accept_delay,
            "process_delay": self.process_delay,
            "max_downloads": self.max_downloads,
            "identical_xml_limit": self.identical_xml_limit,
            "folio_daily_limit": self.folio_daily_limit,
            "clock_skew": self.clock_skew,
        }
        for name, value in non_negative.items():
            if value < 0:
                raise ValueError(f"{name} must not be negative")
        if self.daily_documents > 86_400:
            raise ValueError("daily_documents is at most 86400 (one per second)")


class EmulatorOptions(TypedDict, total=False):
    """Keyword options of `Emulator(...)`: the fields of EmulatorConfig."""

    seed: int
    signature_check: SignatureCheck
    clock_speed: float
    start: datetime | None
    synthetic: bool
    daily_documents: int
    documents: Path | None
    xml_cap: int
    metadata_cap: int
    xml_per_package: int
    metadata_per_package: int
    accept_delay: float
    process_delay: float
    latency: Latency
    certification_lag: float
    outages: tuple[tuple[datetime, datetime], ...]
    last_document: datetime | None
    token_lifetime: float
    package_lifetime: float
    max_downloads: int
    identical_xml_limit: int
    folio_daily_limit: int
    clock_skew: float
    faults: str
    secret: bytes | None
    work_dir: Path | None
    max_request_bytes: int
