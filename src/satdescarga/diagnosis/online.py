"""The online half: can each of the four services be reached, does SAT accept one Autentica
with this e.firma, and how far is this machine's clock from SAT's (the Timestamp of
Autentica's answer, else an HTTP Date header). Nothing is requested: no limit is spent."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests

from satdescarga.client.endpoints import Endpoints
from satdescarga.client.policy import token_refused
from satdescarga.clock import Clock
from satdescarga.diagnosis.findings import Area, Finding, Verdict, error, good, warning
from satdescarga.errors import HttpError, NetworkError, SatError, SoapFault
from satdescarga.fiel import Fiel

SERVICES = (
    ("autenticacion", "autenticación", "authenticate"),
    ("solicitud", "solicitud", "query"),
    ("verificacion", "verificación", "verify"),
    ("descarga", "descarga", "download"),
)
SAT_CLOCK_TOLERANCE = timedelta(minutes=5)
"""How far a signed Timestamp may be from SAT's clock (WCF's MaxClockSkew default)."""
CLOCK_WARNING = timedelta(minutes=1)
CLOCK_ACTION = (
    "sincronice la hora del equipo con un servidor de hora (Linux: `timedatectl set-ntp true`; "
    "Windows: Configuración > Hora > Sincronizar ahora) y revise su zona horaria"
)
REFUSED_ACTION = (
    "la e.firma pasó las revisiones sin conexión; el SAT rechaza una e.firma revocada o "
    "reemplazada por una renovación (use la más reciente) y una firma con la hora desfasada "
    "(vea «reloj»). Confirme en el portal del SAT que esta e.firma es la vigente"
)
UNAVAILABLE_ACTION = "no es un problema de su e.firma ni de su equipo: intente más tarde"


@dataclass(frozen=True, slots=True)
class Reading:
    """SAT's time as one answer told it (`sat`), and our clock before and after the exchange."""

    sat: datetime
    before: datetime
    after: datetime
    source: str

    @property
    def offset(self) -> timedelta:
        """Our clock minus SAT's (positive: ours is ahead)."""
        return self.before + (self.after - self.before) / 2 - self.sat


@dataclass(slots=True)
class Reachability:
    findings: list[Finding]
    reachable: dict[str, bool]
    reading: Reading | None


def reachability(
    endpoints: Endpoints, *, production: bool, timeout: float, clock: Clock
) -> Reachability:
    """A GET on each of the four services: any HTTP answer below 500 means it is there."""
    found = Reachability([], {}, None)
    with requests.Session() as session:
        for name, label, attribute in SERVICES:
            url = getattr(endpoints, attribute)
            before = clock()
            try:
                response = session.get(
                    url, timeout=(min(10.0, timeout), timeout), allow_redirects=False, stream=True
                )
                response.close()
            except requests.RequestException as exc:
                found.reachable[name] = False
                found.findings.append(
                    error(
                        f"conexion_{name}",
                        f"no se pudo conectar con el servicio de {label} ({url}): "
                        f"{_reason(exc, timeout)}",
                        _unreachable_action(url, production),
                        Area.NETWORK,
                        url=url,
                    )
                )
                continue
            after = clock()
            stamp = _http_date(response.headers.get("Date"))
            if stamp is not None and found.reading is None:
                found.reading = Reading(stamp, before, after, "encabezado Date de HTTP")
            found.reachable[name] = response.status_code < 500
            if response.status_code == 404:
                found.findings.append(
                    error(
                        f"conexion_{name}",
                        f"{url} no existe (HTTP 404): ahí no está el servicio de {label}",
                        _wrong_address_action(production),
                        Area.NETWORK,
                        url=url,
                        http=404,
                    )
                )
                continue
            if response.status_code >= 500:
                found.findings.append(
                    error(
                        f"conexion_{name}",
                        f"el servicio de {label} responde HTTP {response.status_code}: no está "
                        "disponible",
                        UNAVAILABLE_ACTION,
                        Area.NETWORK,
                        url=url,
                        http=response.status_code,
                    )
                )
                continue
            seconds = (after - before).total_seconds()
            found.findings.append(
                good(
                    f"conexion_{name}",
                    f"el servicio de {label} responde ({seconds:.2f} s)",
                    url=url,
                    http=response.status_code,
                )
            )
    return found


def authenticate(
    fiel: Fiel, endpoints: Endpoints, *, timeout: float, clock: Clock
) -> tuple[Finding, Reading | None]:
    """One Autentica, not retried: SAT's verdict on the e.firma, and its clock."""
    from satdescarga.client import SatClient

    client = SatClient(
        fiel, endpoints, timeout=(min(10.0, timeout), timeout), retries=1, deadline=timeout
    )
    with client:
        before = clock()
        try:
            token = client.authenticate()
        except (SoapFault, HttpError) as exc:
            if token_refused(exc):  # a security fault, 401 or 403: the e.firma was refused
                return error("autenticacion", _refused(exc), REFUSED_ACTION, Area.FIEL), None
            return error("autenticacion", _failed(exc), UNAVAILABLE_ACTION, Area.NETWORK), None
        except NetworkError as exc:
            return error("autenticacion", _failed(exc), UNAVAILABLE_ACTION, Area.NETWORK), None
        except SatError as exc:
            action = "intente más tarde; si se repite, ejecute con --debug y reporte el detalle"
            message = f"el SAT respondió algo inesperado a la autenticación: {exc}"
            return error("autenticacion", message, action, Area.SAT), None
        after = clock()
    finding = good(
        "autenticacion",
        f"el SAT aceptó la e.firma: entregó un token válido hasta {token.expires:%H:%M:%S} UTC",
        token_vence=token.expires.isoformat(),
    )
    if token.sat_created is None:
        return finding, None
    return finding, Reading(
        token.sat_created, before, after, "Timestamp de la respuesta de Autentica"
    )


def clock_finding(reading: Reading | None) -> Finding:
    """Within a minute of SAT: good; within SAT's five minutes: a warning; beyond: an error
    (SAT refuses the signed Timestamp of Autentica)."""
    if reading is None:
        return warning(
            "reloj",
            "no se pudo comparar el reloj con el del SAT: ningún servicio respondió",
            None,
            Area.CLOCK,
        )
    offset = reading.offset
    seconds = round(offset.total_seconds(), 1)
    facts = {"desfase_segundos": seconds, "fuente": reading.source}
    if abs(offset) <= CLOCK_WARNING:
        return Finding(
            "reloj",
            Verdict.GOOD,
            f"el reloj de este equipo coincide con el del SAT (diferencia {seconds:+.1f} s, "
            f"según el {reading.source})",
            None,
            Area.CLOCK,
            facts,
        )
    text = (
        f"el reloj de este equipo va {_duration(abs(offset))} "
        f"{'adelantado' if seconds > 0 else 'atrasado'} respecto del SAT (según el "
        f"{reading.source})"
    )
    if abs(offset) <= SAT_CLOCK_TOLERANCE:
        return warning(
            "reloj",
            text + ": aún dentro de los 5 minutos que el SAT tolera",
            CLOCK_ACTION,
            Area.CLOCK,
            **facts,
        )
    return error(
        "reloj",
        text + ": el SAT rechaza una autenticación firmada con más de 5 minutos de diferencia",
        CLOCK_ACTION,
        Area.CLOCK,
        **facts,
    )


def _refused(exc: SatError) -> str:
    return f"el SAT rechazó la autenticación con esta e.firma ({exc})"


def _failed(exc: SatError) -> str:
    return f"la autenticación no se completó: {exc}"


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _http_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        stamp = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _reason(exc: requests.RequestException, timeout: float) -> str:
    text = str(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no contestó en {min(10.0, timeout):g} s"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"se conectó pero no respondió en {timeout:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "falló la conexión segura (TLS): revise la fecha del equipo y su proxy"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "el proxy no permitió la conexión"
    if "refused" in text.lower():
        return "conexión rechazada (nadie escucha en esa dirección)"
    if any(hint in text for hint in ("NameResolution", "Name or service", "getaddrinfo")):
        return "no se encontró el nombre del servidor (DNS)"
    return f"no se pudo conectar ({type(exc).__name__})"


def _wrong_address_action(production: bool) -> str:
    if production:
        return "el SAT cambió sus direcciones: actualice satdescarga"
    return "revise la dirección de --endpoint-base: debe ser la base del emulador o del servidor"


def _unreachable_action(url: str, production: bool) -> str:
    host = urlsplit(url).netloc
    if production:
        return (
            "revise la conexión a internet de este equipo y que un proxy o firewall permita "
            f"HTTPS a {host}; si lo demás funciona, el SAT puede estar caído: intente más tarde"
        )
    return (
        f"revise que el servidor de {host} esté en marcha (p. ej. `satdescarga emulator serve`) "
        "y la dirección de --endpoint-base"
    )
