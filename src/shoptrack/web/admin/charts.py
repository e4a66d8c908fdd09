"""Charts as SVG drawn on the server: readable without JavaScript, styled by admin.css.

Each chart has a title and a description for screen readers, labelled axes and a legend
(colour classes ``s0``…``s5`` in admin.css match the lines' colours here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

COLOURS = ("#0b5cad", "#c2410c", "#1a6b32", "#7c3aed", "#a4161a", "#4a5561")
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]


@dataclass(frozen=True)
class Mark:
    """A vertical line at one day, e.g. a change of a block."""

    day: str
    label: str


def _scale_max(values: Sequence[float]) -> float:
    top = max((v for v in values), default=0.0)
    if top <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(top))) - 1)
    return float(-(-top // magnitude) * magnitude)


def _frame(title: str, description: str, days: Sequence[str], top: float) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="t-{id(days)} d-{id(days)}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="t-{id(days)}">{escape(title)}</title>',
        f'<desc id="d-{id(days)}">{escape(description)}</desc>',
    ]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        value = top * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:,.0f}</text>'
        )
    if days:
        step = max(1, len(days) // 6)
        for i in range(0, len(days), step):
            parts.append(
                f'<text x="{_x(i, len(days)):.1f}" y="{HEIGHT - 12}" text-anchor="middle">'
                f"{escape(days[i][5:])}</text>"
            )
    return parts


def _x(index: int, count: int) -> float:
    plot_w = WIDTH - LEFT - RIGHT
    return LEFT + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)


def _y(value: float, top: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h - plot_h * value / top


def legend(series: Sequence[Series]) -> Markup:
    items = "".join(
        f'<li><span class="swatch s{i % len(COLOURS)}" aria-hidden="true"></span>'
        f"{escape(s.label)}</li>"
        for i, s in enumerate(series)
    )
    return Markup(f'<ul class="legend">{items}</ul>')


def line_chart(
    days: Sequence[str],
    series: Sequence[Series],
    marks: Sequence[Mark] = (),
    title: str = "Per day",
) -> Markup:
    """One line per series over ``days`` (ISO dates), with vertical marks at given days."""
    top = _scale_max([v for s in series for v in s.values])
    description = "; ".join(f"{s.label}: total {sum(s.values):,.0f}" for s in series)
    parts = _frame(title, description or "no data", days, top)
    for mark in marks:
        if mark.day in days:
            x = _x(list(days).index(mark.day), len(days))
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
                f'stroke="#7a4b00" stroke-dasharray="4 3"><title>{escape(mark.day)}: '
                f"{escape(mark.label)}</title></line>"
            )
    for i, s in enumerate(series):
        points = " ".join(
            f"{_x(j, len(days)):.1f},{_y(v, top):.1f}" for j, v in enumerate(s.values)
        )
        colour = COLOURS[i % len(COLOURS)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
            f"<title>{escape(s.label)}</title></polyline>"
        )
    parts.append("</svg>")
    return Markup("".join(parts)) + legend(series)


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str = "") -> Markup:
    """Horizontal bars, one per label (e.g. a funnel's steps), the value written beside."""
    row = 28
    height = TOP + row * len(labels) + 8
    top = max(values, default=0) or 1
    label_w = 170
    plot_w = WIDTH - label_w - 90
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = TOP + i * row
        w = plot_w * value / top
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="18" fill="{COLOURS[0]}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 17}">{value:,.0f}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
