from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboards.charts import InfusionMark, TrendPoint, platelet_trend_svg, sparkline_svg

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 27, 10, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def trend(points, **kwargs):
    return platelet_trend_svg(
        points=points,
        baseline=12,
        infusions=[InfusionMark(T0, T0 + timedelta(hours=3), "Day 1 infusion")],
        zone=LONDON,
        **kwargs,
    )


def test_each_result_is_one_point_coloured_by_its_category():
    svg = trend(
        [
            TrendPoint(T0 + timedelta(hours=27), 25, "no_response", "24 h"),
            TrendPoint(T0 + timedelta(hours=51), 41, "response", "48 h"),
            TrendPoint(T0 + timedelta(hours=75), 120, "complete_response", "72 h"),
        ]
    )
    assert svg.count('class="point"') == 3
    assert 'data-category="no_response"' in svg and 'fill="#b3261e"' in svg
    assert 'data-category="complete_response"' in svg and 'fill="#1d7a3a"' in svg


def test_the_chart_has_a_text_alternative_naming_every_result():
    svg = trend([TrendPoint(T0 + timedelta(hours=27), 25, "no_response")])
    assert "<title" in svg and "<desc" in svg
    assert "Baseline 12" in svg
    assert "25 (no response)" in svg


def test_reference_lines_for_30_100_and_the_baseline_are_drawn():
    svg = trend([TrendPoint(T0 + timedelta(hours=27), 25, "no_response")])
    assert ">30</text>" in svg and ">100</text>" in svg and "baseline 12" in svg


def test_times_are_shown_in_the_hospital_zone_across_the_clock_change():
    # 2026-03-29 01:00 UTC London springs forward: 10:00 UTC on the 29th reads 11:00 BST.
    svg = trend([TrendPoint(datetime(2026, 3, 29, 10, 0, tzinfo=UTC), 50, "response")])
    assert "29 Mar 11:00" in svg


def test_no_result_yet_still_draws_the_infusion():
    svg = trend([])
    assert 'class="infusion"' in svg
    assert 'class="point"' not in svg


def test_no_data_at_all_says_so():
    assert "No platelet count yet" in platelet_trend_svg(points=[], baseline=5, infusions=[], zone=LONDON)


def test_a_sparkline_carries_its_values_as_text():
    svg = sparkline_svg([(T0, 72.0), (T0 + timedelta(minutes=15), 96.0)], label="HR", unit="/min")
    assert 'aria-label="HR (/min): 72, 96"' in svg
    assert sparkline_svg([], label="HR", unit="/min") == ""
