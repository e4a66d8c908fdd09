"""Server-side SVG charts: a line chart of daily values and a horizontal bar chart.

No JavaScript and no style attributes (the CSP refuses them): colours and dashes are SVG
presentation attributes. Each chart is readable at a glance — a title, a y axis with round
ticks and grid lines, dated x labels, a legend when there is more than one series — and by a
screen reader: ``role="img"`` with ``<title>`` and a ``<desc>`` that states what the chart
shows (per series: total, highest day). Pages put the numbers in a table beside the chart too.

Colours are the Okabe–Ito palette (told apart with colour blindness), each line also has its
own dash pattern, and every colour keeps a 3:1 contrast with the white background.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from itertools import count
from typing import Union

from markupsafe import Markup, escape

Day = Union[date, str]
Series = Union[Mapping[str, Sequence[float]], Sequence[tuple[str, Sequence[float]]]]
Mark = tuple[Day, str]

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 36
# Okabe–Ito, darkened where needed for 3:1 against white (graphics contrast, WCAG 1.4.11).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8A6D00", "#56789A", "#000000")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 4")
_ids = count(1)


def _day_text(day: Day) -> str:
    return day.isoformat() if isinstance(day, date) else str(day)


def _pairs(series: Series) -> list[tuple[str, list[float]]]:
    items: Iterable[tuple[str, Sequence[float]]]
    items = series.items() if isinstance(series, Mapping) else series
    return [(str(name), [float(v) for v in values]) for name, values in items]


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def nice_ticks(highest: float, wanted: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``highest`` (1, 2, 2.5 or 5 times a power of 10)."""
    if highest <= 0:
        return [0.0, 1.0]
    raw = highest / wanted
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [step * n for n in range(math.ceil(highest / step - 1e-9) + 1)]


def _svg_open(chart_id: str, title: str, desc: str, height: int) -> list[str]:
    return [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
    ]


def line_chart(
    days: Sequence[Day],
    series: Series,
    marks: Sequence[Mark] = (),
    *,
    title: str = "",
    unit: str = "",
) -> Markup:
    """One line per series over ``days`` (a value per day each); ``marks`` are (day, label)
    pairs drawn as labelled vertical lines (e.g. a block's changes)."""
    pairs = _pairs(series)
    n = len(days)
    title = title or ", ".join(name for name, _ in pairs) or "Chart"
    highest = max((max(values, default=0.0) for _, values in pairs), default=0.0)
    ticks = nice_ticks(highest)
    top_value = ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / top_value

    chart_id = f"chart{next(_ids)}"
    parts = _svg_open(chart_id, title, _describe(days, pairs, unit), HEIGHT)
    for tick in ticks:
        ty = y(tick)
        parts.append(
            f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{WIDTH - RIGHT}" y2="{ty:.1f}" '
            'stroke="#d0d0d0" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="#333333">{escape(_number(tick))}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        'stroke="#555555" stroke-width="1"/>'
    )
    for i in _label_positions(n):
        parts.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" '
            f'font-size="12" fill="#333333">{escape(_day_text(days[i]))}</text>'
        )
    index = {_day_text(d): i for i, d in enumerate(days)}
    for day, label in marks:
        i = index.get(_day_text(day))
        if i is None:
            continue
        parts.append(
            f'<g><title>{escape(_day_text(day))}: {escape(label)}</title>'
            f'<line x1="{x(i):.1f}" y1="{TOP}" x2="{x(i):.1f}" y2="{TOP + plot_h}" '
            'stroke="#555555" stroke-width="1" stroke-dasharray="3 3"/>'
            f'<text x="{x(i) + 3:.1f}" y="{TOP + 12}" font-size="11" fill="#333333">'
            f"{escape(label)}</text></g>"
        )
    for k, (name, values) in enumerate(pairs):
        colour, dash = COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values[:n]))
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"'
            f"{dashed}><title>{escape(name)}</title></polyline>"
        )
        if n == 1 and values:
            parts.append(f'<circle cx="{x(0):.1f}" cy="{y(values[0]):.1f}" r="3" fill="{colour}"/>')
    parts.extend(_legend(pairs))
    parts.append("</svg>")
    return Markup("".join(parts))


def _label_positions(n: int, most: int = 7) -> list[int]:
    if n <= 0:
        return []
    if n <= most:
        return list(range(n))
    step = math.ceil((n - 1) / (most - 1))
    positions = list(range(0, n, step))
    if positions[-1] != n - 1:
        if n - 1 - positions[-1] < step / 2:
            positions[-1] = n - 1
        else:
            positions.append(n - 1)
    return positions


def _legend(pairs: list[tuple[str, list[float]]]) -> list[str]:
    parts: list[str] = []
    x = LEFT
    for k, (name, _) in enumerate(pairs):
        colour, dash = COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{x}" y1="18" x2="{x + 22}" y2="18" stroke="{colour}" '
            f'stroke-width="3"{dashed}/>'
            f'<text x="{x + 27}" y="22" font-size="12" fill="#222222">{escape(name)}</text>'
        )
        x += 27 + 7 * len(name) + 18
    return parts


def _describe(days: Sequence[Day], pairs: list[tuple[str, list[float]]], unit: str) -> str:
    if not days:
        return "No days to show."
    span = f"{_day_text(days[0])} to {_day_text(days[-1])}"
    if len(days) == 1:
        span = _day_text(days[0])
    suffix = f" {unit}" if unit else ""
    bits = []
    for name, values in pairs:
        if not values or max(values) <= 0:
            bits.append(f"{name}: none")
            continue
        best = max(range(len(values)), key=values.__getitem__)
        bits.append(
            f"{name}: {_number(sum(values))}{suffix} in all, "
            f"most on {_day_text(days[best])} ({_number(values[best])}{suffix})"
        )
    return f"Daily values from {span}. " + "; ".join(bits) + "."


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str = "",
    notes: Sequence[str] = (),
) -> Markup:
    """Horizontal bars, one per label, each with its value (and an optional note, e.g. a
    rate) written beside it; for a funnel, give the steps in order."""
    row_h, gap = 26, 10
    height = TOP + len(labels) * (row_h + gap) + 8
    label_w = 190
    bar_room = WIDTH - label_w - RIGHT - 150
    highest = max((float(v) for v in values), default=0.0) or 1.0
    chart_id = f"chart{next(_ids)}"
    desc = "; ".join(
        f"{label}: {_number(float(value))}" + (f" ({notes[i]})" if i < len(notes) else "")
        for i, (label, value) in enumerate(zip(labels, values, strict=False))
    )
    title = title or "Chart"
    parts = _svg_open(chart_id, title, desc + "." if desc else "No values.", height)
    for i, (label, value) in enumerate(zip(labels, values, strict=False)):
        top = TOP + i * (row_h + gap)
        width = max(1.0, bar_room * float(value) / highest) if value else 0.0
        note = f"  {notes[i]}" if i < len(notes) and notes[i] else ""
        parts.append(
            f'<text x="{label_w - 8}" y="{top + row_h / 2 + 4:.1f}" text-anchor="end" '
            f'font-size="13" fill="#222222">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{top}" width="{width:.1f}" height="{row_h}" '
            f'fill="{COLOURS[0]}"/>'
            f'<text x="{label_w + width + 6:.1f}" y="{top + row_h / 2 + 4:.1f}" '
            f'font-size="13" fill="#222222">{escape(_number(float(value)) + note)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
