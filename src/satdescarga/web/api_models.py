"""The API's answers as typed models (so `/api/v1/openapi.json` says what each route returns):
English snake_case keys, Spanish values; moments ISO 8601 with their offset (a naive moment is
the fleet's business time, Mexico City: `clock.from_local`); amounts decimal text, never
floats. Built from the read model's rows with `from_attributes`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

from satdescarga.clock import MEXICO_CITY, from_local


def _aware(moment: datetime) -> datetime:
    """Mexico City's offset, SAT's clock: a naive moment is business time (its wall time
    kept, `2025-02-28T22:00:00-06:00`); an aware one is the same instant there."""
    return (from_local(moment) if moment.tzinfo is None else moment).astimezone(MEXICO_CITY)


Moment = Annotated[
    datetime,
    AfterValidator(_aware),
    PlainSerializer(lambda moment: moment.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A moment with its offset (`2025-03-10T12:00:00-06:00`)."""
Amount = Annotated[str, WithJsonSchema({"type": "string", "examples": ["1160.00"]})]
"""The CFDI's decimal text, exactly as SAT wrote it."""


class Model(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class TaxpayerOut(Model):
    rfc: str
    name: str
    state: str
    reason: str | None
    complete_until: Moment | None
    lag_days: int | None
    pending: int
    stuck: int
    lost: int
    documents: int
    fiel_valid_until: Moment | None
    fiel_expires_soon: bool
    fiel_expired: bool
    cancellations_week: int
    last_run_at: Moment | None
    next_run_at: Moment | None


class TaxpayerList(Model):
    items: list[TaxpayerOut]
    total: int
    page: int
    per_page: int
    by_state: dict[str, int]


class TaxpayerDetailOut(TaxpayerOut):
    policy: dict[str, Any]
    last_error: str | None
    failures: int
    failing_since: Moment | None
    serial: str | None
    key_location: str | None


class DocumentOut(Model):
    rfc: str
    direction: str
    uuid: str
    fecha_emision: Moment | None
    rfc_emisor: str
    nombre_emisor: str | None
    rfc_receptor: str
    nombre_receptor: str | None
    monto: Amount | None
    efecto_comprobante: str | None
    estatus: str | None
    fecha_cancelacion: Moment | None
    has_xml: bool


class DocumentList(Model):
    items: list[DocumentOut]
    next: str | None


class Holder(Model):
    rfc: str
    direction: str


class DocumentDetailOut(DocumentOut):
    holders: list[Holder]
    metadata: dict[str, str | None]
    cfdi: dict[str, str | None] | None


class ChangeOut(Model):
    id: int
    rfc: str
    uuid: str
    change: str
    estatus_anterior: str | None
    estatus: str | None
    fecha_cancelacion: Moment | None
    fecha_emision: Moment | None
    rfc_emisor: str | None
    rfc_receptor: str | None
    monto: Amount | None
    discovered_at: Moment


class ChangeList(Model):
    items: list[ChangeOut]
    next: str
    """Always a cursor: poll from it next time, even after the last page."""


class MonthLineOut(Model):
    month: str
    direction: str
    metadata: int
    xml: int
    active_without_xml: int
    xml_without_metadata: int
    cancelled_after_download: int
    lost: int
    lost_why: str


class Report(Model):
    rfc: str
    month: str | None
    lines: list[MonthLineOut]


class MonthCountOut(Model):
    month: str
    documents: int
    cancellations: int


class Months(Model):
    rfc: str
    months: list[MonthCountOut]


class RequestOut(Model):
    request_id: str | None
    direction: str
    kind: str
    start: Moment | None
    end: Moment | None
    sent_at: Moment | None
    outcome: str
    code: int | None
    explanation: str | None
    packages: int


class Requests(Model):
    rfc: str
    items: list[RequestOut]


class AlertOut(Model):
    kind: str
    rfc: str | None
    message: str
    since: Moment | None
    count: int | None
    extra: dict[str, str]


class Alerts(Model):
    items: list[AlertOut]


class PolicyOut(Model):
    """What the fleet keeps current for the taxpayer, and how often (`fleet policy`)."""

    directions: list[str]
    kinds: list[str]
    services: list[str]
    since: str | None
    window: str
    settle_days: float
    sweep_every_hours: float
    recheck_every_days: float
    recheck_days: float
    every_hours: float
    poll_minutes: float
    max_active: int


class PolicyChanges(BaseModel):
    """The fields to change; the others stay (`fleet policy RFC --...`)."""

    model_config = ConfigDict(extra="forbid")

    directions: list[str] | None = None
    kinds: list[str] | None = None
    services: list[str] | None = None
    since: str | None = None
    window: str | None = None
    settle_days: float | None = None
    sweep_every_hours: float | None = None
    recheck_every_days: float | None = None
    recheck_days: float | None = None
    every_hours: float | None = None
    poll_minutes: float | None = None
    max_active: int | None = None


class PolicyAnswer(Model):
    rfc: str
    policy: PolicyOut


class TaxpayerAdded(Model):
    rfc: str


class Done(Model):
    """What a change did, in one Spanish sentence."""

    rfc: str
    message: str


class ErrorDetail(Model):
    code: str
    message: str  # one Spanish sentence


class ErrorOut(Model):
    """Every answer that is not the data asked for."""

    error: ErrorDetail
