"""The taxpayer's chart: documents and cancellations per month as SVG bars drawn on the
server (no chart library, no script). The SVG comes from a template of the pages'
environment, autoescaped like every page: nothing from the data reaches it as markup."""

from __future__ import annotations

from dataclasses import dataclass

from satdescarga.readmodel import MonthCount
from satdescarga.web.rendering import environment

WIDTH = 720
HEIGHT = 240
TOP = 24  # room for the legend
BOTTOM = 36  # room for the months' labels
LEFT = 48  # room for the scale
MONTHS_SHOWN = 24  # the most recent; older months are in the reconciliation table
MONTH_NAMES = ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic")


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # documents / cancellations (its CSS class and legend)
    title: str  # the tooltip: month and count in words


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str


def month_label(month: str) -> str:
    """'2025-02' -> 'feb 2025'."""
    year, _, number = month.partition("-")
    if not number.isdigit() or not 1 <= int(number) <= 12:
        return month
    return f"{MONTH_NAMES[int(number) - 1]} {year}"


def nice_top(value: int) -> int:
    """The scale's top: 1, 2 or 5 times a power of ten, at least `value` (and at least 1)."""
    top = 1
    while True:
        for factor in (1, 2, 5):
            if top * factor >= value:
                return top * factor
        top *= 10


def layout(months: list[MonthCount]) -> tuple[list[Bar], list[Label], list[Label]]:
    """Two bars per month (documents, cancellations), the months' labels, the scale."""
    shown = sorted(months, key=lambda m: m.month)[-MONTHS_SHOWN:]
    top = nice_top(max([m.documents for m in shown] + [m.cancellations for m in shown] + [1]))
    plot_width = WIDTH - LEFT - 8
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(shown), 1)
    bar = max(min(slot * 0.36, 28.0), 2.0)
    bars: list[Bar] = []
    labels: list[Label] = []
    every = max(1, len(shown) // 12)  # at most ~12 month labels
    for index, month in enumerate(shown):
        x = LEFT + index * slot + (slot - 2 * bar) / 2
        name = month_label(month.month)
        for offset, kind, count, words in (
            (0.0, "documentos", month.documents, "documentos"),
            (bar, "cancelaciones", month.cancellations, "cancelados"),
        ):
            height = plot_height * count / top
            bars.append(Bar(round(x + offset, 1), round(TOP + plot_height - height, 1),
                            round(bar, 1), round(height, 1), kind,
                            f"{name}: {count:,} {words}"))  # fmt: skip
        if index % every == 0:
            labels.append(Label(round(x + bar, 1), HEIGHT - BOTTOM + 16, name))
    parts = next(n for n in (4, 5, 2, 1) if top % n == 0)  # whole numbers on the scale
    scale = [
        Label(
            LEFT - 6, round(TOP + plot_height * (1 - part / parts), 1), f"{top * part // parts:,}"
        )
        for part in range(parts + 1)
    ]
    return bars, labels, scale


def render_svg(rfc: str, months: list[MonthCount]) -> str:
    """The chart as an SVG document."""
    bars, labels, scale = layout(months)
    total = sum(m.documents for m in months)
    cancelled = sum(m.cancellations for m in months)
    return environment.get_template("grafica.svg").render(
        rfc=rfc,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        top=TOP,
        base=HEIGHT - BOTTOM,
        bars=bars,
        labels=labels,
        scale=scale,
        empty=not months,
        summary=f"{total:,} documentos y {cancelled:,} cancelaciones en {len(months)} meses",
    )
