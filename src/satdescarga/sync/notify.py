"""Being told: when an unattended run ends with news (new cancellations, lost documents, stuck
or failed windows, SAT unavailable, the e.firma about to expire), its JSON summary is POSTed to
a URL and/or given on stdin to a command. A notification that fails is reported and never
changes the run's exit code. The payload holds no secret: no password, token or key.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

EXPIRY_WARNING_DAYS = 30


def expiry_warning(valid_until: datetime, now: datetime) -> str | None:
    """A Spanish sentence when the e.firma expires within EXPIRY_WARNING_DAYS days."""
    days = (valid_until - now).days
    if days > EXPIRY_WARNING_DAYS:
        return None
    if days < 0:
        return f"la e.firma venció el {valid_until:%Y-%m-%d}"
    return f"la e.firma vence el {valid_until:%Y-%m-%d} (en {days} días): tramite la nueva"


def news(summary: dict[str, Any], cancellations: int, expiry: str | None) -> list[str]:
    """What in a run's summary deserves telling someone, one Spanish sentence each."""
    found = []
    if cancellations:
        found.append(f"{cancellations} documento(s) cancelado(s) descubiertos en esta ejecución")
    if summary.get("lost"):
        found.append(f"{len(summary['lost'])} paquete(s) perdido(s) para siempre")
    if summary.get("failed"):
        found.append(f"{len(summary['failed'])} ventana(s) fallida(s)")
    if summary.get("stuck"):
        found.append(f"{len(summary['stuck'])} solicitud(es) atorada(s)")
    if summary.get("outage"):
        found.append(str(summary["outage"]))
    if expiry:
        found.append(expiry)
    return found


@dataclass(frozen=True)
class Notifier:
    url: str | None = None
    command: str | None = None

    def send(self, payload: dict[str, Any]) -> list[str]:
        """Deliver `payload`; the problems, one Spanish sentence each (empty: delivered)."""
        body = json.dumps(payload, ensure_ascii=False, default=str)
        problems = []
        if self.url:
            problems += self._post(body)
        if self.command:
            problems += self._run(body)
        return problems

    def _post(self, body: str) -> list[str]:
        error: Exception | None = None
        for _ in range(2):  # one retry
            try:
                response = requests.post(
                    str(self.url),
                    data=body.encode(),
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    timeout=10,
                )
            except requests.RequestException as exc:
                error = exc
                continue
            if response.status_code < 400:
                return []
            error = RuntimeError(f"HTTP {response.status_code}")
        return [f"no se pudo avisar a {self.url}: {error}"]

    def _run(self, body: str) -> list[str]:
        try:
            finished = subprocess.run(
                shlex.split(str(self.command)),
                input=body,
                text=True,
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            return [f"no se pudo ejecutar --notify-command: {exc}"]
        if finished.returncode != 0:
            return [f"--notify-command terminó con código {finished.returncode}"]
        return []


def after_run(
    notifier: Notifier,
    summary: dict[str, Any],
    database: Path,
    started: datetime,
    valid_until: datetime,
    now: datetime,
) -> list[str]:
    """Tell `notifier` about the run that began at `started` (business time, Mexico City)
    when it has news; the problems delivering it (nothing sent: none)."""
    from satdescarga.sync import documents

    cancellations = documents.changes(database, started, (documents.CANCELLED,))
    found = news(summary, len(cancellations), expiry_warning(valid_until, now))
    if not found:
        return []
    payload = {
        **summary,
        "news": found,
        "cancellations": [c.uuid for c in cancellations],
        "fiel_valid_until": valid_until.isoformat(),
    }
    return notifier.send(payload)


def after_local_fault(notifier: Notifier, rfc: str, message: str) -> list[str]:
    """Tell `notifier` that the run of `rfc` stopped on a fault of this computer (a full disk,
    a folder it may not write): a person must act before the next run can do anything. The
    problems delivering it (nothing sent: none)."""
    news = [f"la sincronización se detuvo por una falla local (no del SAT): {message}"]
    return notifier.send({"rfc": rfc, "news": news, "local_fault": message})
