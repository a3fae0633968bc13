"""How the pages write what the read model gives: states in words (and the colour that goes
with them), dates in Mexico City's time, amounts as the CFDI wrote them, SAT's words for
directions and alert kinds. Registered as Jinja filters on the pages' environment."""

from __future__ import annotations

from datetime import datetime

from satdescarga.clock import MEXICO_CITY
from satdescarga.readmodel import AlertKind
from satdescarga.sync.documents import CHANGE_WORDS
from satdescarga.sync.states import RequestOutcome
from satdescarga.web.rendering import environment

STATES: dict[str, tuple[str, str]] = {
    "nuevo": ("Nuevo", "info"),
    "al_dia": ("Al día", "ok"),
    "pendiente": ("Pendiente del SAT", "info"),
    "sat_no_disponible": ("SAT no disponible", "warn"),
    "atencion": ("Requiere atención", "warn"),
    "con_error": ("Con error", "warn"),
    "error_repetido": ("Error repetido", "bad"),
    "credenciales_rechazadas": ("e.firma rechazada", "bad"),
    "efirma_vencida": ("e.firma vencida", "bad"),
}
"""state -> (the words the page shows, the colour's CSS class: ok, info, warn, bad)."""

ALERTS: dict[str, str] = {
    AlertKind.FIEL_EXPIRING: "e.firma por vencer",
    AlertKind.FIEL_EXPIRED: "e.firma vencida",
    AlertKind.STUCK: "Sin avance por más de 72 h",
    AlertKind.REPEATED_ERRORS: "Errores repetidos",
    AlertKind.SAT_PAUSED: "SAT en pausa",
    AlertKind.NEW_CANCELLATIONS: "Cancelaciones nuevas",
}
ALERT_CLASSES: dict[str, str] = {
    AlertKind.FIEL_EXPIRING: "warn",
    AlertKind.FIEL_EXPIRED: "bad",
    AlertKind.STUCK: "bad",
    AlertKind.REPEATED_ERRORS: "bad",
    AlertKind.SAT_PAUSED: "warn",
    AlertKind.NEW_CANCELLATIONS: "info",
}


def state_label(state: str) -> str:
    return STATES.get(state, (state.replace("_", " ").capitalize(), "info"))[0]


def state_class(state: str) -> str:
    return STATES.get(state, ("", "info"))[1]


def local(moment: datetime | None, with_time: bool = True) -> str:
    """A moment in Mexico City's time (aware moments are converted; naive ones already are
    business time), or a dash."""
    if moment is None:
        return "—"
    if moment.tzinfo is not None:
        moment = moment.astimezone(MEXICO_CITY).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def day(moment: datetime | None) -> str:
    return local(moment, with_time=False)


def number(value: int | None) -> str:
    """Thousands with commas, as Mexico writes them."""
    return "—" if value is None else f"{value:,}"


def amount(value: str | None) -> str:
    """The CFDI's decimal text with thousands separated; never through a float."""
    if not value:
        return "—"
    negative = value.startswith("-")
    whole, dot, cents = value.lstrip("-").partition(".")
    if not whole.isdigit():
        return value
    return f"{'-' if negative else ''}${int(whole):,}{dot}{cents}"


def outcome_label(outcome: str) -> str:
    """A request's outcome as the ledger's words for people (`satdescarga status`)."""
    try:
        return RequestOutcome(outcome).label
    except ValueError:
        return outcome


def alert_label(kind: str) -> str:
    return ALERTS.get(kind, kind)


def alert_class(kind: str) -> str:
    return ALERT_CLASSES.get(kind, "info")


def change_label(change: str) -> str:
    """A change of the feed in the words of `satdescarga changes`."""
    words = CHANGE_WORDS.get(change, change)
    return words[:1].upper() + words[1:]


environment.filters.update(
    state_label=state_label,
    state_class=state_class,
    local=local,
    day=day,
    number=number,
    amount=amount,
    alert_label=alert_label,
    outcome_label=outcome_label,
    alert_class=alert_class,
    change_label=change_label,
)
