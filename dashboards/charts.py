"""Server-rendered SVG charts: no chart library, nothing fetched from a CDN, a text alternative on each.

Pure functions of plain values (times, counts, category names), so they are tested without a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from html import escape

from monitoring.response_rules import DEFAULT_THRESHOLDS

CATEGORY_COLOURS = {
    "complete_response": "#1d7a3a",
    "response": "#0b5cad",
    "no_response": "#b3261e",
    "pending": "#5b6675",
}
CATEGORY_LABELS = {
    "complete_response": "complete response",
    "response": "response",
    "no_response": "no response",
    "pending": "pending",
}
# IWG thresholds drawn as reference lines: the same numbers the response rules classify with (docs/clinical-rules.md
# §A6).
RESPONSE_LINE = DEFAULT_THRESHOLDS.response_count
COMPLETE_RESPONSE_LINE = DEFAULT_THRESHOLDS.complete_response_count


@dataclass(frozen=True)
class TrendPoint:
    at: datetime
    count: int
    category: str
    label: str = ""


@dataclass(frozen=True)
class InfusionMark:
    start: datetime
    end: datetime | None
    label: str


@dataclass(frozen=True)
class TherapyMark:
    """A co-therapy on the trend (A12): a platelet transfusion, a corticosteroid, another ITP treatment."""

    start: datetime
    end: datetime | None
    label: str


def _scale(value: float, low: float, high: float, out_low: float, out_high: float) -> float:
    if high == low:
        return (out_low + out_high) / 2
    return out_low + (value - low) * (out_high - out_low) / (high - low)


def platelet_trend_svg(
    *,
    points: Sequence[TrendPoint],
    baseline: int,
    infusions: Sequence[InfusionMark],
    zone: tzinfo,
    therapies: Sequence[TherapyMark] = (),
    window_closes_at: datetime | None = None,
    width: int = 720,
    height: int = 320,
    title: str = "Platelet count over time",
) -> str:
    left, right, top, bottom = 48, 16, 16, 40
    times = [p.at for p in points] + [m.start for m in infusions] + [m.end for m in infusions if m.end]
    if not times:
        return (
            f'<svg role="img" aria-label="{escape(title)}: no data yet" width="{width}" height="60" '
            f'viewBox="0 0 {width} 60" xmlns="http://www.w3.org/2000/svg"><text x="8" y="30">No platelet '
            "count yet.</text></svg>"
        )
    t0, t1 = min(times), max(times)
    if t1 - t0 < timedelta(hours=24):
        t1 = t0 + timedelta(hours=24)
    top_count = max([COMPLETE_RESPONSE_LINE + 20, baseline, *(p.count for p in points)]) * 1.1

    def x(at: datetime) -> float:
        return _scale((at - t0).total_seconds(), 0, (t1 - t0).total_seconds(), left, width - right)

    def y(count: float) -> float:
        return _scale(count, 0, top_count, height - bottom, top)

    summary = "; ".join(
        f"{p.at.astimezone(zone):%d %b %H:%M} {p.count} ({CATEGORY_LABELS.get(p.category, p.category)})" for p in points
    )
    if therapies:
        summary += ". Co-therapy: " + "; ".join(
            f"{mark.label} from {mark.start.astimezone(zone):%d %b %H:%M}" for mark in therapies
        )
    if window_closes_at is not None:
        summary += f". Results count toward this course until {window_closes_at.astimezone(zone):%d %b %H:%M}"
    parts = [
        f'<svg role="img" aria-labelledby="trend-title trend-desc" width="100%" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" class="chart" data-testid="trend-chart">',
        f'<title id="trend-title">{escape(title)}</title>',
        f'<desc id="trend-desc">Baseline {baseline} ×10⁹/L. {escape(summary) or "No result yet."}</desc>',
    ]
    for mark in infusions:
        end = mark.end or mark.start
        parts.append(
            f'<rect class="infusion" x="{x(mark.start):.1f}" y="{top}" width="{max(x(end) - x(mark.start), 3):.1f}" '
            f'height="{height - top - bottom}" fill="#e8f0fb"><title>{escape(mark.label)}</title></rect>'
        )
    for therapy in therapies:
        # Drawn where it falls within the chart's time range: a steroid course may have begun long before.
        start, end = max(therapy.start, t0), min(therapy.end or therapy.start, t1)
        if therapy.start > t1 or (therapy.end or therapy.start) < t0:
            continue
        parts.append(
            f'<rect class="co-therapy" x="{x(start):.1f}" y="{top}" width="{max(x(end) - x(start), 3):.1f}" '
            f'height="{(height - top - bottom) / 6:.1f}" fill="#f2c46d"><title>{escape(therapy.label)}</title></rect>'
        )
    if window_closes_at is not None and t0 <= window_closes_at <= t1:
        parts.append(
            f'<line class="window-end" x1="{x(window_closes_at):.1f}" x2="{x(window_closes_at):.1f}" y1="{top}" '
            f'y2="{height - bottom}" stroke="#b3261e" stroke-dasharray="6 3"><title>End of the course\'s window '
            "(later results count toward nothing)</title></line>"
        )
    for value, label, dash in (
        (RESPONSE_LINE, str(RESPONSE_LINE), "4 4"),
        (COMPLETE_RESPONSE_LINE, str(COMPLETE_RESPONSE_LINE), "4 4"),
        (baseline, f"baseline {baseline}", "2 3"),
    ):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#8a94a3" '
            f'stroke-dasharray="{dash}"/><text x="{width - right - 4}" y="{y(value) - 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#5b6675">{escape(label)}</text>'
        )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="#1b2430"/>'
        f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" stroke="#1b2430"/>'
    )
    for tick in (0, RESPONSE_LINE, COMPLETE_RESPONSE_LINE, int(top_count // 50 * 50)):
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11">{tick}</text>')
    day = t0.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= t1:
        if day >= t0:
            parts.append(
                f'<text x="{x(day):.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11">'
                f"{day:%d %b}</text>"
            )
        day = day + timedelta(days=1)  # wall-clock arithmetic in the zone: the next local midnight
    ordered = sorted(points, key=lambda p: p.at)
    if len(ordered) > 1:
        path = " ".join(f"{x(p.at):.1f},{y(p.count):.1f}" for p in ordered)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#5b6675" stroke-width="1.5"/>')
    for p in ordered:
        colour = CATEGORY_COLOURS.get(p.category, "#5b6675")
        parts.append(
            f'<circle class="point" data-category="{escape(p.category)}" cx="{x(p.at):.1f}" cy="{y(p.count):.1f}" '
            f'r="6" fill="{colour}"><title>{escape(p.label or "")} {p.count} ×10⁹/L, '
            f"{escape(CATEGORY_LABELS.get(p.category, p.category))}, {p.at.astimezone(zone):%d %b %H:%M}"
            "</title></circle>"
        )
    parts.append(
        f'<text x="{left}" y="{height - 6}" font-size="11" fill="#5b6675">×10⁹/L · shaded: infusions · '
        "amber: co-therapy · dashed: 30 and 100 (IWG), dotted: baseline</text></svg>"
    )
    return "".join(parts)


def sparkline_svg(
    values: Sequence[tuple[datetime, float]], *, label: str, unit: str, width: int = 220, height: int = 48
) -> str:
    """A small line of one vital sign over an infusion, with its last value as text."""
    if not values:
        return ""
    t0, t1 = values[0][0], values[-1][0]
    low = min(v for _, v in values)
    high = max(v for _, v in values)
    pad = (high - low) * 0.1 or 1

    def x(at: datetime) -> float:
        return _scale((at - t0).total_seconds(), 0, (t1 - t0).total_seconds(), 4, width - 60)

    def y(value: float) -> float:
        return _scale(value, low - pad, high + pad, height - 4, 4)

    path = " ".join(f"{x(at):.1f},{y(v):.1f}" for at, v in values)
    text = ", ".join(f"{v:g}" for _, v in values)
    return (
        f'<svg role="img" aria-label="{escape(label)} ({escape(unit)}): {escape(text)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" class="spark">'
        f'<polyline points="{path}" fill="none" stroke="#0b5cad" stroke-width="1.5"/>'
        f'<text x="{width - 56}" y="{height / 2 + 4:.0f}" font-size="11">{escape(label)} {values[-1][1]:g}</text></svg>'
    )
