"""What every route reaches through `web_context(request)`: the read model, the accounts, the
fleet's actions (None over a folder: read-only) and the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request

from satdescarga.readmodel import ReadModel
from satdescarga.web.accounts import Accounts

if TYPE_CHECKING:
    from satdescarga.web.actions import FleetActions


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Settings:
    behind_proxy: bool = False  # TLS ends at a trusted proxy: Secure cookies, its headers
    session_idle: timedelta = timedelta(minutes=30)
    session_absolute: timedelta = timedelta(hours=12)
    upload_limit: int = 64 * 1024  # bytes per e.firma file (.cer, .key, password)
    login_failures: int = 5  # failed logins (per user, per address) before HTTP 429
    login_window: timedelta = timedelta(minutes=15)
    screenshots: Path | None = None  # tests only: nothing here changes what is served


@dataclass
class WebContext:
    read: ReadModel
    accounts: Accounts
    actions: FleetActions | None  # None: the source is a folder (read-only)
    settings: Settings = field(default_factory=Settings)
    clock: Callable[[], datetime] = _now

    @property
    def source(self) -> str:
        return self.read.kind


def web_context(request: Request) -> WebContext:
    context = request.app.state.context
    assert isinstance(context, WebContext)
    return context
