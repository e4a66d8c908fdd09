"""Charts as SVG drawn on the server: readable without JavaScript, styled by admin.css.

* ``line_chart(days, series, marks=())``: one line per series over days, with round y ticks
  and grid lines, dated x labels, dashed vertical ``marks`` (e.g. a block's changes, each
  labelled), and a legend below (HTML, so it wraps and reads as text).
* ``bar_chart(labels, values)``: horizontal bars, the value (and an optional note, e.g. a
  rate) written beside each; for a funnel, the steps in order.

Readable at a glance and by a screen reader: ``role="img"`` with a ``<title>`` and a
``<desc>`` that says what the chart shows (per series its total and its highest day). Lines
are told apart by colour *and* dash pattern (the legend draws both), so colour is never the
only cue. No style attributes (the CSP refuses them): SVG presentation attributes only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import count

from markupsafe import Markup, escape

# The ``s0``…``s5`` swatch classes of admin.css use the same colours.
COLOURS = ("#0b5cad", "#c2410c", "#1a6b32", "#7c3aed", "#a4161a", "#4a5561")
# 7 patterns against 6 colours: the first 42 series each get their own pair.
DASHES = ("", "7 3", "2 3", "9 3 2 3", "4 4", "12 4", "1 3")
WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36
_chart_ids = count(1)


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]


@dataclass(frozen=True)
class Mark:
    """A vertical line at one day, e.g. a change of a block."""

    day: str
    label: str


SeriesInput = Sequence[Series] | Mapping[str, Sequence[float]]


def _day(day: str | date) -> str:
    return day.isoformat() if isinstance(day, date) else str(day)


def as_series(series: SeriesInput) -> list[Series]:
    """``Series`` objects, or a mapping of label → values."""
    if isinstance(series, Mapping):
        return [Series(str(label), list(values)) for label, values in series.items()]
    return list(series)


def fmt(value: float) -> str:
    """1,234 for whole numbers, 1,234.50 otherwise."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def nice_ticks(highest: float, wanted: int = 4) -> list[float]:
    """Round ticks from 0 up to at least ``highest``: steps of 1, 2, 2.5 or 5 × 10ⁿ."""
    if highest <= 0:
        return [0.0, 1.0]
    raw = highest / wanted
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    if step >= 1:
        step = float(math.ceil(step))  # whole ticks for counts: no "0.5 visitors"
    return [step * n for n in range(math.ceil(highest / step - 1e-9) + 1)]


def label_positions(n: int, most: int = 7) -> list[int]:
    """Up to ``most`` evenly spread day indices, the first and the last always among them."""
    if n <= most:
        return list(range(n))
    step = math.ceil((n - 1) / (most - 1))
    positions = list(range(0, n, step))
    # A last label closer than most of a step would overlap its neighbour: it moves instead.
    if n - 1 - positions[-1] < step * 0.8:
        positions[-1] = n - 1
    else:
        positions.append(n - 1)
    return positions


def _open(title: str, description: str, height: int) -> list[str]:
    chart_id = f"chart{next(_chart_ids)}"
    return [
        f'<svg class="chart" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        'role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(description)}</desc>',
    ]


def describe(days: Sequence[str], series: Sequence[Series], unit: str = "") -> str:
    """What a screen reader says of a line chart: the period, per series total and peak."""
    if not days:
        return "No days to show."
    span = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"
    suffix = f" {unit}" if unit else ""
    parts = []
    for s in series:
        values = [float(v) for v in s.values]
        if not values or max(values) <= 0:
            parts.append(f"{s.label}: none")
            continue
        peak = max(range(len(values)), key=values.__getitem__)
        parts.append(
            f"{s.label}: {fmt(sum(values))}{suffix} in all, the most on {days[peak]} "
            f"({fmt(values[peak])}{suffix})"
        )
    return f"Per day from {span}. " + ("; ".join(parts) or "No series") + "."


def _style(index: int) -> tuple[str, str]:
    """(stroke colour, dasharray attribute) of the series at ``index``."""
    dash = DASHES[index % len(DASHES)]
    return COLOURS[index % len(COLOURS)], f' stroke-dasharray="{dash}"' if dash else ""


def legend(series: Sequence[Series]) -> Markup:
    """The series' names, each after a short line in its colour and dash pattern."""
    items = []
    for i, s in enumerate(series):
        colour, dashed = _style(i)
        items.append(
            '<li><svg class="key" width="28" height="10" viewBox="0 0 28 10" aria-hidden="true">'
            f'<line x1="0" y1="5" x2="28" y2="5" stroke="{colour}" stroke-width="3"{dashed}/>'
            f"</svg>{escape(s.label)}</li>"
        )
    return Markup(f'<ul class="legend">{"".join(items)}</ul>')


def line_chart(
    days: Sequence[str] | Sequence[date],
    series: SeriesInput,
    marks: Sequence[Mark] | Sequence[tuple[str, str]] = (),
    title: str = "Per day",
    unit: str = "",
) -> Markup:
    """One line per series over ``days`` (ISO dates), with vertical marks at given days."""
    names = [_day(d) for d in days]
    lines = as_series(series)
    n = len(names)
    ticks = nice_ticks(max((float(v) for s in lines for v in s.values), default=0.0))
    top = ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = _open(title, describe(names, lines, unit), HEIGHT)
    for tick in ticks:
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#d0d7de"/>'
            f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(tick))}</text>"
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
        'stroke="#4a5561"/>'
    )
    for i in label_positions(n):
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        parts.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - 12}" text-anchor="{anchor}">'
            f"{escape(names[i])}</text>"
        )
    where = {name: i for i, name in enumerate(names)}
    for mark in marks:
        day, label = (mark.day, mark.label) if isinstance(mark, Mark) else mark
        at = where.get(_day(day))
        if at is None:
            continue
        parts.append(
            f"<g><title>{escape(_day(day))}: {escape(label)}</title>"
            f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
            'stroke="#7a4b00" stroke-width="1.5" stroke-dasharray="4 3"/>'
            f'<text x="{x(at) + 3:.1f}" y="{TOP + 10}">{escape(label[:24])}</text></g>'
        )
    for k, s in enumerate(lines):
        colour, dashed = _style(k)
        values = [float(v) for v in s.values][:n]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dashed} '
            f'points="{points}"><title>{escape(s.label)}</title></polyline>'
        )
        if n == 1 and values:  # one day: a line of one point would not show
            parts.append(f'<circle cx="{x(0):.1f}" cy="{y(values[0]):.1f}" r="4" fill="{colour}"/>')
    parts.append("</svg>")
    return Markup("".join(parts)) + legend(lines)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str = "",
    notes: Sequence[str] = (),
) -> Markup:
    """Horizontal bars, one per label (e.g. a funnel's steps), the value written beside."""
    row = 30
    height = TOP + row * len(labels) + 8
    highest = max((float(v) for v in values), default=0.0) or 1.0
    label_w = 200
    plot_w = WIDTH - label_w - 230
    said = [
        f"{label}: {fmt(float(value))}" + (f" ({notes[i]})" if i < len(notes) and notes[i] else "")
        for i, (label, value) in enumerate(zip(labels, values, strict=True))
    ]
    parts = _open(title or "Bars", "; ".join(said) + "." if said else "No values.", height)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        top = TOP + i * row
        width = plot_w * float(value) / highest
        note = f" · {notes[i]}" if i < len(notes) and notes[i] else ""
        parts.append(
            f'<text x="{label_w - 8}" y="{top + 17}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{top + 4}" width="{width:.1f}" height="20" '
            f'fill="{COLOURS[0]}"/>'
            f'<text x="{label_w + width + 6:.1f}" y="{top + 17}">'
            f"{escape(fmt(float(value)) + note)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
