"""Inline SVG charts for the report, built from plain numbers; every label is escaped here."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape

from markupsafe import Markup

SHAPES = ("circle", "square", "triangle", "diamond")
COLOURS = ("#1b6ca8", "#d9480f", "#2b8a3e", "#862e9c", "#c92a2a", "#5f3dc4", "#e67700", "#0b7285")


def _marker(shape: str, x: float, y: float, colour: str, title: str) -> str:
    t = f"<title>{escape(title)}</title>"
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">{t}</circle>'
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}">{t}</rect>'
    if shape == "triangle":
        return (f'<polygon points="{x:.1f},{y - 5:.1f} {x - 5:.1f},{y + 4:.1f} {x + 5:.1f},{y + 4:.1f}" '
                f'fill="{colour}">{t}</polygon>')
    return (f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}" '
            f'fill="{colour}">{t}</polygon>')


def _time_label(us: int, span_us: int) -> str:
    moment = datetime.fromtimestamp(us / 1e6, UTC)
    if span_us < 10_000_000:
        return moment.strftime("%H:%M:%S.%f")[:-3]
    if span_us < 2 * 86_400_000_000:
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%m-%d %H:%M")


def timeline(points: list[tuple[int, str]], title: str, max_lanes: int = 8, max_points: int = 600) -> Markup:
    """Who wrote when: one lane per writer, a marker per duplicate write (time in µs, writer label).

    More than ``max_points`` writes are thinned evenly (the title says so) so big incidents stay light.
    """
    if not points:
        return Markup("")
    if len(points) > max_points:
        step = len(points) / max_points
        title = f"{title} (every {step:.0f}th of {len(points)} writes shown)"
        points = [points[int(i * step)] for i in range(max_points)]
    lanes = sorted({w for _, w in points})
    shown = lanes[:max_lanes]
    other = len(lanes) > max_lanes
    if other:
        shown.append("other writers")
    width, left, right, lane_h, top = 860, 250, 20, 34, 30
    height = top + lane_h * len(shown) + 40
    lo, hi = min(p[0] for p in points), max(p[0] for p in points)
    span = max(hi - lo, 1)

    def x(us: int) -> float:
        return left + (us - lo) / span * (width - left - right)

    parts = [f'<svg class="chart timeline" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i, lane in enumerate(shown):
        y = top + lane_h * i + lane_h / 2
        shape, colour = SHAPES[i % len(SHAPES)], COLOURS[i % len(COLOURS)]
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y}" y2="{y}" stroke="#ddd"/>')
        parts.append(_marker(shape, 12, y, colour, lane))
        label = lane if len(lane) <= 30 else lane[:29] + "…"
        parts.append(f'<text x="24" y="{y + 4}" font-size="12">{escape(label)}</text>')
    for us, writer in points:
        i = shown.index(writer) if writer in shown else len(shown) - 1
        y = top + lane_h * i + lane_h / 2
        parts.append(_marker(SHAPES[i % len(SHAPES)], x(us), y, COLOURS[i % len(COLOURS)],
                             f"{writer} at {_time_label(us, 0)}"))
    axis_y = top + lane_h * len(shown) + 8
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{axis_y}" y2="{axis_y}" stroke="#555"/>')
    for k in range(5):
        us = lo + span * k // 4
        parts.append(f'<text x="{x(us):.1f}" y="{axis_y + 16}" font-size="11" text-anchor="middle">'
                     f'{escape(_time_label(us, span))}</text>')
    parts.append(f'<text x="{width - right}" y="{axis_y + 30}" font-size="11" text-anchor="end">time (UTC)</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def gap_histogram(gaps: list[float], window: float) -> Markup:
    """Gaps between rows of a cluster on a log axis, from one microsecond to the window."""
    if not gaps:
        return Markup("")
    lo_exp = -6
    hi_exp = max(math.ceil(math.log10(max(window, max(gaps), 1e-6))), lo_exp + 1)
    bins_per_decade = 2
    n_bins = (hi_exp - lo_exp) * bins_per_decade
    counts = [0] * n_bins
    for g in gaps:
        pos = (math.log10(max(g, 1e-6)) - lo_exp) * bins_per_decade
        counts[min(max(int(pos), 0), n_bins - 1)] += 1
    width, height, left, bottom, top = 860, 220, 50, 40, 20
    bar_w = (width - left - 20) / n_bins
    peak = max(counts)
    parts = [f'<svg class="chart gaps" role="img" viewBox="0 0 {width} {height}" width="100%" '
             'xmlns="http://www.w3.org/2000/svg"><title>Gaps between rows of a cluster (log scale)</title>']
    for i, c in enumerate(counts):
        h = 0 if not peak else (height - top - bottom) * c / peak
        x = left + i * bar_w
        y = height - bottom - h
        parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="#1b6ca8">'
                     f'<title>{c} gap(s)</title></rect>')
        if c:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" font-size="10" '
                         f'text-anchor="middle">{c}</text>')
    labels = {-6: "1 µs", -5: "10 µs", -4: "100 µs", -3: "1 ms", -2: "10 ms", -1: "100 ms", 0: "1 s", 1: "10 s",
              2: "100 s", 3: "1000 s", 4: "10⁴ s"}
    for e in range(lo_exp, hi_exp + 1):
        x = left + (e - lo_exp) * bins_per_decade * bar_w
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{height - bottom}" y2="{height - bottom + 5}" '
                     'stroke="#555"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 18}" font-size="11" text-anchor="middle">'
                     f'{escape(labels.get(e, f"1e{e} s"))}</text>')
    wx = left + (math.log10(max(window, 1e-6)) - lo_exp) * bins_per_decade * bar_w
    parts.append(f'<line x1="{wx:.1f}" x2="{wx:.1f}" y1="{top}" y2="{height - bottom}" stroke="#c92a2a" '
                 'stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{wx - 4:.1f}" y="{top + 10}" font-size="11" text-anchor="end" fill="#c92a2a">window</text>')
    parts.append(f'<line x1="{left}" x2="{width - 20}" y1="{height - bottom}" y2="{height - bottom}" stroke="#555"/>')
    parts.append(f'<text x="{width / 2}" y="{height - 4}" font-size="11" text-anchor="middle">'
                 'gap to the previous row of the same key (log scale)</text>')
    parts.append(f'<text x="12" y="{top + 10}" font-size="11">rows</text></svg>')
    return Markup("".join(parts))


def per_day(days: dict[str, int]) -> Markup:
    """Clusters per day, so a nightly pattern stands out."""
    if not days:
        return Markup("")
    ordered = sorted(days.items())
    width, height, left, bottom, top = 860, 180, 40, 46, 16
    bar_w = min(60.0, (width - left - 20) / len(ordered))
    peak = max(days.values())
    parts = [f'<svg class="chart per-day" role="img" viewBox="0 0 {width} {height}" width="100%" '
             'xmlns="http://www.w3.org/2000/svg"><title>Near-duplicate clusters per day</title>']
    step = max(1, len(ordered) // 12)
    for i, (day, count) in enumerate(ordered):
        h = (height - top - bottom) * count / peak
        x = left + i * bar_w
        parts.append(f'<rect x="{x + 1:.1f}" y="{height - bottom - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                     f'fill="#d9480f"><title>{escape(day)}: {count} cluster(s)</title></rect>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom - h - 3:.1f}" font-size="10" '
                     f'text-anchor="middle">{count}</text>')
        if i % step == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" font-size="10" '
                         f'text-anchor="middle">{escape(day[5:])}</text>')
    parts.append(f'<line x1="{left}" x2="{width - 20}" y1="{height - bottom}" y2="{height - bottom}" stroke="#555"/>')
    parts.append(f'<text x="{width / 2}" y="{height - 6}" font-size="11" text-anchor="middle">day (UTC)</text></svg>')
    return Markup("".join(parts))
