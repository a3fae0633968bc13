"""The online half: can each of the four services be reached, does SAT accept one Autentica
and one signed request (a Verifica of a request that does not exist) with this e.firma, and
how far is this machine's clock from SAT's (the Timestamp of Autentica's answer, else an HTTP
Date header). Nothing is requested: no limit is spent."""

from __future__ import annotations

import email.utils
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests

from satdescarga.client.endpoints import Endpoints
from satdescarga.client.policy import token_refused
from satdescarga.client.results import Status
from satdescarga.clock import Clock
from satdescarga.codes import SatCode
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
REPORT_ACTION = "intente más tarde; si se repite, reporte este mensaje a satdescarga"
SIGNATURE_CODES = (SatCode.USUARIO_NO_VALIDO, SatCode.CERTIFICADO_INVALIDO)  # 300..305
SIGNATURE_ACTIONS = {
    SatCode.CERTIFICADO_REVOCADO_O_CADUCO: (
        "el SAT considera esta e.firma revocada o vencida: si la renovó, use los archivos "
        "nuevos; si no, renuévela (SAT ID o cita en el SAT)"
    ),
    SatCode.CERTIFICADO_INVALIDO: (
        "el SAT no acepta este certificado para la descarga masiva: confirme que es la e.firma "
        "(no el CSD) y la más reciente; si la renovó, la anterior ya no sirve"
    ),
}


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
) -> tuple[list[Finding], Reading | None]:
    """One Autentica, not retried: SAT's verdict on the e.firma, and its clock. Then, with
    the token, one signed Verifica of a request that does not exist: SAT checks the signature
    and the certificate of every signed request (300-305, the 305 users meet) before it looks
    the request up (5004). Nothing is requested, so no limit is spent."""
    from satdescarga.client import SatClient

    client = SatClient(
        fiel, endpoints, timeout=(min(10.0, timeout), timeout), retries=1, deadline=timeout
    )
    with client:
        before = clock()
        try:
            token = client.authenticate()
        except SatError as exc:
            return [_failure("autenticacion", "la autenticación", exc)], None
        after = clock()
        try:
            signed = _signed(client.verify(f"{uuid.uuid4()}").status)
        except SatError as exc:
            signed = _failure("firma", "la verificación de prueba", exc)
    finding = good(
        "autenticacion",
        f"el SAT aceptó la e.firma: entregó un token válido hasta {token.expires:%H:%M:%S} UTC",
        token_expires=token.expires.isoformat(),
    )
    if token.sat_created is None:
        return [finding, signed], None
    source = "Timestamp de la respuesta de Autentica"
    return [finding, signed], Reading(token.sat_created, before, after, source)


def _signed(status: Status) -> Finding:
    """SAT's answer to a Verifica of an unknown request: 5004 means the signature passed."""
    facts = {"sat_code": status.code, "sat_message": status.message}
    code = status.sat_code
    if code is SatCode.NO_ENCONTRADA:
        return good(
            "firma",
            "el SAT acepta las peticiones firmadas con esta e.firma (a una verificación de "
            f"prueba respondió {status}, lo esperado)",
            **facts,
        )
    if code is not None and SIGNATURE_CODES[0] <= code <= SIGNATURE_CODES[1]:
        return error(
            "firma",
            f"el SAT rechaza las peticiones firmadas con esta e.firma: {status}",
            SIGNATURE_ACTIONS.get(code, REPORT_ACTION),
            Area.FIEL,
            **facts,
        )
    return warning(
        "firma",
        f"la verificación de prueba no fue concluyente: el SAT respondió {status or 'vacío'}",
        "si la descarga falla, vuelva a ejecutar doctor más tarde",
        Area.SAT,
        **facts,
    )


def _failure(check: str, what: str, exc: SatError) -> Finding:
    """A call that failed: SAT refusing the e.firma (a security fault, 401, 403), SAT or the
    network failing, or an answer SAT should not have given."""
    if isinstance(exc, SoapFault | HttpError) and token_refused(exc):
        message = f"el SAT rechazó {what} con esta e.firma ({exc})"
        return error(check, message, REFUSED_ACTION, Area.FIEL)
    if isinstance(exc, SoapFault | NetworkError) or (
        isinstance(exc, HttpError) and exc.status >= 500
    ):
        return error(check, f"{what} no se completó: {exc}", UNAVAILABLE_ACTION, Area.NETWORK)
    message = f"el SAT respondió algo inesperado a {what}: {exc}"
    return error(check, message, REPORT_ACTION, Area.SAT)


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
    facts = {"skew_seconds": seconds, "source": reading.source}
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
