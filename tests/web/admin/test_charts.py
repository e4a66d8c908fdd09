"""The SVG charts: both ways of giving series, marks, round ticks, text for screen readers."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

from shoptrack.web.admin.charts import (
    Mark,
    Series,
    bar_chart,
    label_positions,
    line_chart,
    nice_ticks,
)

DAYS = [(date(2026, 11, 1) + timedelta(days=n)).isoformat() for n in range(30)]


def test_ticks_are_round_and_reach_the_highest_value() -> None:
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(3) == [0.0, 1.0, 2.0, 3.0]
    assert nice_ticks(560) == [0.0, 200.0, 400.0, 600.0]
    assert nice_ticks(1234.5)[-1] >= 1234.5
    assert all(t == int(t) for t in nice_ticks(7))  # no half visitors


def test_day_labels_are_spread_and_never_crowd_the_last() -> None:
    assert label_positions(5) == [0, 1, 2, 3, 4]
    positions = label_positions(30)
    assert positions[0] == 0 and positions[-1] == 29 and len(positions) <= 7
    gaps = [b - a for a, b in itertools.pairwise(positions)]
    assert min(gaps) >= 0.8 * max(gaps)


def test_a_line_chart_of_series_objects_with_marks() -> None:
    svg = str(
        line_chart(
            DAYS,
            [Series("Clicks", [n % 7 for n in range(30)]), Series("Views <all>", [9] * 30)],
            marks=[Mark(DAYS[10], "variant r1v2 added"), Mark("2030-01-01", "not shown")],
            title="Block 7",
        )
    )
    assert svg.count("<polyline") == 2
    assert "variant r1v2 added" in svg and "not shown" not in svg
    assert "Views &lt;all&gt;" in svg and "<all>" not in svg
    assert re.search(r'<title id="[^"]+">Block 7</title>', svg)
    desc = re.search(r"<desc id=\"[^\"]+\">([^<]*)</desc>", svg)
    assert desc and desc.group(1).startswith("Per day from 2026-11-01 to 2026-11-30.")
    assert "Views &lt;all&gt;: 270 in all" in desc.group(1)
    assert ' style="' not in svg
    # The legend names each line beside a key drawn in its colour and dash.
    assert '<ul class="legend">' in svg and svg.count('class="key"') == 2
    assert 'stroke-dasharray="7 3"' in svg


def test_a_line_chart_of_a_mapping_and_dates_and_a_single_day() -> None:
    svg = str(line_chart([date(2026, 12, 1)], {"Revenue": [12.5]}, title="Revenue", unit="EUR"))
    assert "<circle" in svg  # one point is drawn as a dot
    assert "Revenue: 12.50 EUR in all, the most on 2026-12-01 (12.50 EUR)" in svg
    empty = str(line_chart([], {}, title="Nothing"))
    assert "No days to show." in empty


def test_a_bar_chart_writes_values_and_notes() -> None:
    svg = str(bar_chart(["Visitors", "Bought"], [200, 5], title="Funnel", notes=["", "2.5 %"]))
    assert svg.count("<rect") == 2
    assert "Visitors: 200; Bought: 5 (2.5 %)." in svg
    assert "5 · 2.5 %" in svg
    assert str(bar_chart(["A"], [0])).count("<rect") == 1  # a zero bar has no width, no error
