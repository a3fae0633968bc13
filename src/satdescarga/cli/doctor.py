"""`satdescarga doctor`: one screen that says whether this e.firma and this machine can work
with SAT, and what to do about each problem (the checks are in `satdescarga.diagnosis`).

Exit codes: 0 nothing wrong (warnings allowed); otherwise the code of the most basic error:
2 no password, 3 the e.firma (or the clock SAT compares it against), 4 network or SAT
unavailable, 1 an answer SAT should not have given.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from satdescarga.cli.common import (
    EXIT_FIEL,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    PASSWORD_ENV,
    Output,
    Sat,
    common_options,
    endpoints,
    handle_errors,
    read_password,
    sat_options,
)
from satdescarga.diagnosis.findings import Area, Finding, Verdict, error, warning
from satdescarga.errors import FielError, SatError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_CODES = {  # most basic first: the first one found among the errors is the exit code
    Area.USAGE: EXIT_USAGE,
    Area.FIEL: EXIT_FIEL,
    Area.CLOCK: EXIT_FIEL,
    Area.NETWORK: EXIT_NETWORK,
    Area.SAT: EXIT_REFUSED,
}
LABELS = {
    "contrasena": "contraseña",
    "conexion_autenticacion": "red: autenticación",
    "conexion_solicitud": "red: solicitud",
    "conexion_verificacion": "red: verificación",
    "conexion_descarga": "red: descarga",
    "autenticacion": "autenticación",
    "firma": "peticiones firmadas",
}
COLORS = {Verdict.GOOD: "green", Verdict.WARNING: "yellow", Verdict.ERROR: "red"}


def credential_options(func: F) -> F:
    """`sat_options`, except that a missing .cer or .key is a finding, not a usage error."""
    command: Any = sat_options(func)
    for param in command.__click_params__:
        if param.name in ("cer", "key"):
            param.type = click.Path(dir_okay=False, path_type=Path)
    return command  # type: ignore[no-any-return]


@click.command()
@credential_options
@click.option(
    "--offline", is_flag=True, help="Solo las revisiones sin conexión (no contacta al SAT)."
)
@common_options
@handle_errors
def doctor(sat: Sat, offline: bool, as_json: bool, debug: bool) -> None:
    """Revisa la e.firma y la conexión con el SAT; dice qué hacer con cada problema.

    Sin conexión: que sea e.firma y no CSD, su vigencia, su emisor, la contraseña y que la
    llave corresponda al certificado. Con conexión (salvo --offline): que respondan los cuatro
    servicios, una autenticación, una verificación firmada de prueba y la diferencia entre el
    reloj del equipo y el del SAT. No envía solicitudes: no gasta límites del SAT.
    """
    from satdescarga.clock import business_clock
    from satdescarga.diagnosis.fiel_checks import diagnose_fiel
    from satdescarga.emulator.security.trust import issued_by_trusted_ca

    output = Output(as_json)
    clock = business_clock()
    password, problem = _password(sat)
    findings: list[Finding] = []

    def show(*found: Finding) -> None:
        for finding in found:
            findings.append(finding)
            _print(output, finding)

    if not as_json:
        target = sat.endpoint_base or "el SAT"
        click.echo(f"Diagnóstico de la e.firma y de la conexión con {target} ({sat.service})")
    offline_checks = diagnose_fiel(
        sat.cer,
        sat.key,
        password,
        now=datetime.now(UTC),  # the real now: the certificate must be valid today
        production=sat.endpoint_base is None,
        trusted_locally=issued_by_trusted_ca,
    )
    show(*([problem] if problem else []), *offline_checks.findings)
    if not offline:
        from satdescarga.diagnosis.online import authenticate, clock_finding, reachability

        services = endpoints(sat.service, sat.endpoint_base)
        reached = reachability(
            services, production=sat.endpoint_base is None, timeout=sat.timeout, clock=clock
        )
        show(*reached.findings)
        reading = reached.reading
        if offline_checks.fiel is None:
            auth = [warning("autenticacion", "no se intentó: antes corrija la e.firma", None)]
        elif not reached.reachable.get("autenticacion"):
            auth = [
                warning(
                    "autenticacion",
                    "no se intentó: el servicio de autenticación no responde",
                    None,
                    Area.NETWORK,
                )
            ]
        else:
            auth, token_reading = authenticate(
                offline_checks.fiel, services, timeout=sat.timeout, clock=clock
            )
            reading = token_reading or reading
        show(clock_finding(reading), *auth)
    code = _exit_code(findings)
    _summary(output, findings, code)
    raise SystemExit(code)


def _password(sat: Sat) -> tuple[str | None, Finding | None]:
    """The password as every command reads it; a missing or unreadable one is a finding."""
    area = Area.USAGE
    try:
        return read_password(sat.password_file, sat.password_option), None
    except click.UsageError as exc:
        message = exc.message
    except SatError as exc:  # a password file that cannot be used, said by `read_password`
        message, area = str(exc), Area.FIEL if isinstance(exc, FielError) else Area.USAGE
    except (OSError, UnicodeError) as exc:
        message = f"no se pudo leer el archivo de contraseña ({type(exc).__name__})"
    action = f"indique la contraseña de la llave con --password-file o la variable {PASSWORD_ENV}"
    return None, error("contrasena", message, action, area)


def _exit_code(findings: list[Finding]) -> int:
    areas = {finding.area for finding in findings if finding.is_error}
    return next((code for area, code in EXIT_CODES.items() if area in areas), EXIT_OK)


def _print(output: Output, finding: Finding) -> None:
    data = {
        "check": finding.check,
        "verdict": finding.verdict.value,
        "message": finding.message,
        "action": finding.action,
        **finding.facts,
    }
    verdict = click.style(f"{finding.verdict.value:<5}", fg=COLORS[finding.verdict], bold=True)
    label = LABELS.get(finding.check, finding.check)
    human = f"  {verdict}  {label:<20} {finding.message}"
    if finding.action:
        human += f"\n  {'':<5}  {'qué hacer:':<20} {finding.action}"
    output.result("finding", data, human)


def _summary(output: Output, findings: list[Finding], code: int) -> None:
    counts = {verdict: sum(f.verdict is verdict for f in findings) for verdict in Verdict}
    errors, warnings = counts[Verdict.ERROR], counts[Verdict.WARNING]
    worst = Verdict.ERROR if errors else Verdict.WARNING if warnings else Verdict.GOOD
    if errors:
        human = f"Resultado: {errors} error(es) y {warnings} aviso(s); código de salida {code}"
    elif warnings:
        human = f"Resultado: sin errores, {warnings} aviso(s)"
    else:
        human = "Resultado: todo bien"
    output.result(
        "doctor_summary",
        {
            "verdict": worst.value,
            "good": counts[Verdict.GOOD],
            "warnings": warnings,
            "errors": errors,
            "exit_code": code,
        },
        click.style(human, fg=COLORS[worst], bold=True),
    )
