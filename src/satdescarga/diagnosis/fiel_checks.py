"""The offline half: what can be known about an e.firma from its files alone. Each check runs
whatever the others found (a wrong password still lets the certificate be judged), and the
e.firma is handed on for Autentica only when nothing is wrong with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from satdescarga.certificate import Issuer, SatCertificate
from satdescarga.diagnosis.findings import Finding, error, good, warning
from satdescarga.errors import (
    CertificateNotYetValidError,
    FielError,
    FielFormatError,
    FielKeyMismatchError,
    FielPasswordError,
    NotFielError,
)
from satdescarga.fiel import Fiel, load_certificate, load_private_key

CSD_ACTION = (
    "use el .cer y el .key de su e.firma (FIEL), los que le entregó el SAT al tramitarla; el "
    "CSD (certificado de sello digital) solo sirve para facturar. Si no tiene los archivos de la "
    "e.firma, renuévela en SAT ID o en una oficina del SAT"
)
RENEW_ACTION = (
    "renueve la e.firma (en SAT ID o con cita en el SAT) y use los archivos nuevos, .cer y .key"
)
PASSWORD_ACTION = (
    "escriba la contraseña de la llave privada (.key) de la e.firma, la que eligió al "
    "tramitarla; no es la contraseña del portal (CIEC). Si la olvidó, tramite una nueva e.firma"
)
KEY_ACTION = "use el archivo .key que el SAT entregó junto con este .cer"
MISMATCH_ACTION = (
    "use el .key que se generó con este .cer (el mismo trámite); si renovó la e.firma, el .key "
    "nuevo va con el .cer nuevo y los anteriores ya no sirven"
)


@dataclass(slots=True)
class FielDiagnosis:
    """The offline findings; `fiel` when the e.firma passed every one (ready for Autentica)."""

    findings: list[Finding] = field(default_factory=list)
    fiel: Fiel | None = None
    certificate: SatCertificate | None = None


def diagnose_fiel(
    cer: Path,
    key: Path,
    password: str | None,
    *,
    now: datetime,
    production: bool,
    trusted_locally: Callable[[SatCertificate], bool] | None = None,
) -> FielDiagnosis:
    """Check the certificate, its type, validity at `now` and issuer (for SAT's production
    hosts, or a local server that trusts `trusted_locally`), the password and the key.
    `password` None: the caller reported why there is none; the key is then not checked."""
    found = FielDiagnosis()
    certificate = _certificate(cer, found.findings)
    if certificate is not None:
        found.certificate = certificate
        found.findings += [
            _kind(certificate),
            _validity(certificate, now),
            _issuer(certificate, production, trusted_locally),
        ]
    if password is None:
        found.findings.append(
            warning("llave", "no se revisó la llave privada: falta la contraseña", None)
        )
        return found
    try:
        private = load_private_key(key, password)
    except FielPasswordError as exc:
        found.findings += [
            error("contrasena", str(exc), PASSWORD_ACTION),
            warning("llave", "no se pudo revisar si la llave corresponde al certificado", None),
        ]
        return found
    except FielFormatError as exc:
        found.findings += [
            warning("contrasena", "no se pudo revisar la contraseña: falta la llave", None),
            error("llave", str(exc), KEY_ACTION),
        ]
        return found
    found.findings.append(good("contrasena", "la contraseña abre la llave privada"))
    if certificate is None:
        found.findings.append(
            warning("llave", "no se pudo revisar si la llave corresponde al certificado", None)
        )
        return found
    try:
        fiel = Fiel(certificate, private)
    except FielKeyMismatchError as exc:
        found.findings.append(error("llave", str(exc), MISMATCH_ACTION))
        return found
    found.findings.append(good("llave", "la llave privada corresponde al certificado"))
    if not any(finding.is_error for finding in found.findings):
        found.fiel = fiel
    return found


def _certificate(cer: Path, findings: list[Finding]) -> SatCertificate | None:
    try:
        certificate = load_certificate(cer)
        rfc = certificate.rfc
    except FielFormatError as exc:
        findings.append(
            error(
                "certificado",
                str(exc),
                "indique el archivo .cer de su e.firma, tal como lo entregó el SAT",
            )
        )
        return None
    findings.append(
        good(
            "certificado",
            f"certificado {certificate.serial_number} de {rfc} ({certificate.legal_name})",
            rfc=rfc,
            name=certificate.legal_name,
            certificate_number=certificate.serial_number,
        )
    )
    return certificate


def _kind(certificate: SatCertificate) -> Finding:
    try:
        certificate.check_kind()
    except NotFielError as exc:
        return error("tipo", f"{exc} (responde 305, Certificado Inválido)", CSD_ACTION, kind="CSD")
    return good("tipo", "es una e.firma (FIEL), no un CSD", kind="e.firma")


def _validity(certificate: SatCertificate, now: datetime) -> Finding:
    from satdescarga.sync.notify import expiry_warning  # the one 30-day rule

    span = {
        "valid_from": certificate.valid_from.isoformat(),
        "valid_until": certificate.valid_until.isoformat(),
    }
    try:
        certificate.check_validity(now)
    except CertificateNotYetValidError as exc:
        action = (
            "espere a que empiece su vigencia; si la fecha ya pasó, revise la fecha y la hora "
            "de este equipo"
        )
        return error("vigencia", str(exc), action, **span)
    except FielError as exc:  # expired
        return error("vigencia", str(exc), RENEW_ACTION, **span)
    if soon := expiry_warning(certificate.valid_until, now):
        return warning("vigencia", soon, RENEW_ACTION + " antes de esa fecha", **span)
    days = (certificate.valid_until - now).days
    return good(
        "vigencia",
        f"vigente del {certificate.valid_from:%Y-%m-%d} al {certificate.valid_until:%Y-%m-%d} "
        f"(quedan {days} días)",
        **span,
    )


def _issuer(
    certificate: SatCertificate,
    production: bool,
    trusted_locally: Callable[[SatCertificate], bool] | None,
) -> Finding:
    issuer = certificate.issuer
    name = certificate.issuer_common_name or certificate.issuer_name
    facts = {"issuer": name, "issuer_kind": issuer.value}
    if issuer is Issuer.SAT:
        return good("emisor", f"lo emitió el SAT ({name})", **facts)
    local = trusted_locally is not None and trusted_locally(certificate)
    if not production and (local or issuer is Issuer.SAT_TEST):
        return good(
            "emisor",
            f"lo emitió una autoridad de pruebas ({name}): sirve contra el emulador, no "
            "contra el SAT",
            **facts,
        )
    if issuer is Issuer.SAT_TEST or local:
        return error(
            "emisor",
            f"es un certificado de pruebas ({name}): el SAT lo rechaza (305, Certificado Inválido)",
            "use su e.firma real; la de pruebas solo sirve contra el emulador (--endpoint-base)",
            **facts,
        )
    return error(
        "emisor",
        f"no lo emitió el SAT (emisor: {name}): el SAT lo rechaza (305, Certificado Inválido)",
        "use la e.firma que le entregó el SAT (su .cer y su .key)",
        **facts,
    )
