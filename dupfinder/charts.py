"""Inline SVG charts for the report, built from plain numbers; every label is escaped here.

Each chart is drawn twice, for a wide page (860 units) and for a phone (360 units); the stylesheet shows
one. A chart's viewBox is scaled to the width it gets, so drawing it for about that width keeps the
12-unit labels near 12 px where they are read. Labels are placed where they cannot be cut by the edge
or sit on a bar: tick labels near an edge are anchored inside, marker labels live in a band of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from html import escape as _html_escape
from typing import Any

from markupsafe import Markup

from .sqltemplates import spelled_out
from .words import count

SHAPES = ("circle", "square", "triangle", "diamond")
COLOURS = ("#1b6ca8", "#d9480f", "#2b8a3e", "#862e9c", "#c92a2a", "#5f3dc4", "#e67700", "#0b7285")
WIDE, NARROW = 860, 360
FONT = 12
CHAR = 0.6 * FONT  # a generous average advance of a sans-serif character at FONT

_DECADE_LABELS = {-6: "1 µs", -5: "10 µs", -4: "100 µs", -3: "1 ms", -2: "10 ms", -1: "100 ms", 0: "1 s",
                  1: "10 s", 2: "100 s", 3: "1000 s", 4: "10⁴ s", 5: "10⁵ s"}


def escape(text: str) -> str:
    """Escaped for SVG, with line breaks and invisible characters spelled out: a label holds table names."""
    return _html_escape(spelled_out(text))


def ordinal(n: int) -> str:
    """English ordinal of a positive number.

    >>> [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111, 1002)]
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '101st', '111th', '1,002nd']
    """
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


def text_width(text: str, size: float = FONT) -> float:
    """An upper estimate of a label's drawn width (used to keep labels apart and inside the chart)."""
    return len(text) * 0.62 * size


def _text(x: float, y: float, text: str, anchor: str = "middle", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{FONT}" text-anchor="{anchor}"{extra}>'
            f"{escape(text)}</text>")


def _edge_place(x: float, text: str, width: float) -> tuple[float, float, str]:
    """Where a label centred on x goes so it stays inside [2, width - 2]: (left edge, right edge, anchor)."""
    w = text_width(text)
    if x - w / 2 < 2:
        return max(x, 2.0), max(x, 2.0) + w, "start"
    if x + w / 2 > width - 2:
        return min(x, width - 2.0) - w, min(x, width - 2.0), "end"
    return x - w / 2, x + w / 2, "middle"


def _placed(x: float, y: float, text: str, width: float) -> tuple[str, float, float]:
    left, right, anchor = _edge_place(x, text, width)
    at = {"start": left, "end": right, "middle": x}[anchor]
    return _text(at, y, text, anchor), left, right


def _axis_labels(ticks: list[tuple[float, str]], y: float, width: float) -> list[str]:
    """Tick labels along an axis, each kept inside the chart; one that would touch its neighbour is left out."""
    parts, last_right = [], -1e9
    for x, text in ticks:
        label, left, right = _placed(x, y, text, width)
        if left >= last_right + 8:
            parts.append(label)
            last_right = right
    return parts


def _svg(kind: str, width: int, height: float, title: str) -> str:
    size = "wide" if width == WIDE else "narrow"
    return (f'<svg class="chart {kind} {size}" role="img" viewBox="0 0 {width} {height:.0f}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>')


def _count_ticks(peak: int, room_px: float) -> list[int]:
    """0 and round counts up to at least peak, no closer than 22 px apart."""
    most = max(1, int(room_px // 22))
    step = 1
    for base in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000):
        step = base
        if math.ceil(peak / base) <= most:
            break
    top = max(step, math.ceil(peak / step) * step)
    return list(range(0, top + 1, step))


def _y_margin(ticks: list[int]) -> float:
    """Room left of the plot for the rotated unit and the widest count label."""
    return 30 + max(text_width(f"{t:,}") for t in ticks)


def _y_axis(ticks: list[int], left: float, right: float, y0: float, plot_h: float, unit: str) -> list[str]:
    top = ticks[-1]
    parts = []
    for t in ticks:
        y = y0 - plot_h * t / top
        parts.append(f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e9ecef"/>')
        parts.append(_text(left - 5, y + 4, f"{t:,}", "end"))
    mid = y0 - plot_h / 2
    parts.append(f'<text x="14" y="{mid:.1f}" font-size="{FONT}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {mid:.1f})">{escape(unit)}</text>')
    return parts


def _both(draw, *args) -> Markup:
    return Markup(draw(*args, WIDE) + draw(*args, NARROW))


# --- gaps -------------------------------------------------------------------------------------------------

def _window_labels(seconds: float, tables: list[str]) -> list[str]:
    """The window's label from the most to the least complete; the chart uses the first that fits."""
    from .durations import format_seconds

    head = f"window {format_seconds(seconds)}"
    labels = [f"{head}: " + ", ".join(tables[:shown]) + (f" and {len(tables) - shown} more" if shown < len(tables)
                                                           else "") for shown in range(len(tables), 0, -1)]
    return [*labels, f"{head}: {len(tables)} table{'s' if len(tables) > 1 else ''}", head, format_seconds(seconds)]


class GapTally:
    """The gaps of a histogram counted as they are read, in half-decade bins from one microsecond: as many
    numbers kept as there are bins, whatever the number of gaps."""

    LO_EXP, PER_DECADE = -6, 2

    def __init__(self, gaps: Iterable[float] = ()) -> None:
        self.bins: dict[int, int] = {}
        self.biggest: float | None = None
        self.add(gaps)

    def add(self, gaps: Iterable[float]) -> None:
        for g in gaps:
            pos = int((math.log10(max(g, 1e-6)) - self.LO_EXP) * self.PER_DECADE)
            self.bins[pos] = self.bins.get(pos, 0) + 1
            self.biggest = g if self.biggest is None else max(self.biggest, g)


def _gap_histogram(gaps: GapTally, windows: list[tuple[float, list[str]]], width: int) -> str:
    lo_exp = GapTally.LO_EXP
    biggest = max([gaps.biggest] + [w for w, _ in windows] + [1e-6])
    hi_exp = max(math.ceil(math.log10(biggest) + 1e-9), lo_exp + 1)
    per_decade = GapTally.PER_DECADE
    n_bins = (hi_exp - lo_exp) * per_decade
    counts = [0] * n_bins
    for pos, n in gaps.bins.items():
        counts[min(max(pos, 0), n_bins - 1)] += n
    plot_h = 150 if width == WIDE else 130
    ticks = _count_ticks(max(counts), plot_h)
    left, right, bottom = _y_margin(ticks), 14, 50
    band = 8 + 18 * len(windows)          # one row per window label, above the bars
    top = band + 16                        # room for the count above the tallest bar
    height = top + plot_h + bottom
    y0 = top + plot_h
    bar_w = (width - left - right) / n_bins
    decade_px = per_decade * bar_w
    parts = [_svg("gaps", width, height, "Gaps between the rows of each cluster (log scale)")]
    parts += _y_axis(ticks, left, width - right, y0, plot_h, "gaps")
    for row, (seconds, tables) in enumerate(windows):
        wx = left + (math.log10(max(seconds, 1e-6)) - lo_exp) * decade_px
        ly = 8 + 18 * row + FONT
        parts.append(f'<line x1="{wx:.1f}" x2="{wx:.1f}" y1="{ly + 3:.1f}" y2="{y0}" stroke="#c92a2a" '
                     'stroke-dasharray="4 3"/>')
        room_left, room_right = wx - 6, width - wx - 6
        for label in _window_labels(seconds, tables):  # the most complete label that fits on either side
            if text_width(label) <= max(room_left, room_right):
                break
        anchor, lx = ("end", wx - 4) if text_width(label) > room_right else ("start", wx + 4)
        text = _text(lx, ly, label, anchor, ' fill="#c92a2a"')
        parts.append(f"<g><title>{escape(_window_labels(seconds, tables)[0])}</title>{text}</g>")
    for i, c in enumerate(counts):
        h = plot_h * c / ticks[-1]
        x = left + i * bar_w
        parts.append(f'<rect x="{x + 1:.1f}" y="{y0 - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                     f'fill="#1b6ca8"><title>{count(c, "gap")}</title></rect>')
        if c and text_width(f"{c:,}") <= bar_w + 4:
            parts.append(_text(x + bar_w / 2, y0 - h - 4, f"{c:,}"))
    widest = max(text_width(_DECADE_LABELS.get(e, f"1e{e} s")) for e in range(lo_exp, hi_exp + 1))
    every = max(1, math.ceil((widest + 8) / decade_px))
    labels = []
    for e in range(lo_exp, hi_exp + 1):
        x = left + (e - lo_exp) * decade_px
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y0}" y2="{y0 + 5}" stroke="#555"/>')
        if (e - lo_exp) % every == 0:
            labels.append((x, _DECADE_LABELS.get(e, f"1e{e} s")))
    parts += _axis_labels(labels, y0 + 19, width)
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y0}" y2="{y0}" stroke="#555"/>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{y0}" stroke="#555"/>')
    caption = "gap to the previous row of the same key (log scale)"
    parts.append(_text(left + (width - left - right) / 2, height - 8,
                       caption if text_width(caption) < width - 10 else "gap to the previous row (log)"))
    parts.append("</svg>")
    return "".join(parts)


def gap_histogram(gaps: list[float] | GapTally, windows: dict[float, list[str]]) -> Markup:
    """Gaps between rows of a cluster on a log axis from one microsecond, a dashed line per table window."""
    tally = gaps if isinstance(gaps, GapTally) else GapTally(gaps)
    if tally.biggest is None:
        return Markup("")
    return _both(_gap_histogram, tally, sorted(windows.items()))


# --- clusters per day --------------------------------------------------------------------------------------

def _day_ticks(first: date, days: int, px_per_day: float) -> list[date]:
    need = text_width("2026-11-03") + 14
    for step in (1, 2, 7, 14):
        if step * px_per_day >= need:
            return [first + timedelta(days=k) for k in range(0, days, step)]
    for months in (1, 2, 3, 6, 12, 24, 60):
        if months * 30 * px_per_day >= need:
            out, y, m = [], first.year, first.month
            while True:
                m += 1
                if m > 12:
                    y, m = y + 1, m - 12
                if (m - 1) % months or (months >= 12 and m != 1):
                    continue
                tick = date(y, m, 1)
                if (tick - first).days >= days:
                    return out
                out.append(tick)
    return [first]


def _per_day(days: dict[str, int], zone: str, width: int) -> str:
    parsed = {date.fromisoformat(d): n for d, n in days.items()}
    first, last = min(parsed), max(parsed)
    n_days = (last - first).days + 1
    plot_h = 120 if width == WIDE else 110
    ticks = _count_ticks(max(parsed.values()), plot_h)
    left, right, top, bottom = _y_margin(ticks), 14, 22, 50
    height = top + plot_h + bottom
    y0 = top + plot_h
    plot_w = width - left - right
    per = plot_w / n_days

    def x(d: date) -> float:
        return left + ((d - first).days + 0.5) * per

    bar_w = max(1.5, min(per * 0.8, 48.0))
    parts = [_svg("per-day", width, height, "Near-duplicate clusters per day")]
    parts += _y_axis(ticks, left, width - right, y0, plot_h, "clusters")
    for d, n in sorted(parsed.items()):
        h = plot_h * n / ticks[-1]
        parts.append(f'<rect x="{x(d) - bar_w / 2:.1f}" y="{y0 - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                     f'fill="#d9480f"><title>{d.isoformat()}: {count(n, "cluster")}</title></rect>')
        # inside its day with a margin beside the estimate (two "100" one day apart touched without it)
        if text_width(f"{n:,}") + 4 <= per:
            parts.append(_text(x(d), y0 - h - 4, f"{n:,}"))
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y0}" y2="{y0}" stroke="#555"/>')
    day_ticks = _day_ticks(first, n_days, per)
    for d in day_ticks:
        parts.append(f'<line x1="{x(d):.1f}" x2="{x(d):.1f}" y1="{y0}" y2="{y0 + 5}" stroke="#555"/>')
    parts += _axis_labels([(x(d), d.isoformat()) for d in day_ticks], y0 + 19, width)
    parts.append(_text(left + plot_w / 2, height - 8, f"day ({zone})"))
    parts.append("</svg>")
    return "".join(parts)


def per_day(days: dict[str, int], zone: str = "UTC") -> Markup:
    """Clusters per calendar day on a real time axis (days without clusters stay empty), full dates."""
    if not days:
        return Markup("")
    return _both(_per_day, days, zone)


# --- timeline ----------------------------------------------------------------------------------------------

_STEPS_US = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000,
             500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 15_000_000, 30_000_000, 60_000_000,
             120_000_000, 300_000_000, 600_000_000, 900_000_000, 1_800_000_000, 3_600_000_000, 7_200_000_000,
             10_800_000_000, 21_600_000_000, 43_200_000_000, 86_400_000_000]


def _tick_label(us: int, step_us: int, same_day: bool) -> str:
    moment = datetime.fromtimestamp(us / 1e6, UTC)
    if step_us < 1_000:
        text = moment.strftime("%H:%M:%S.%f")
    elif step_us < 1_000_000:
        text = moment.strftime("%H:%M:%S.%f")[:-3]
    elif step_us < 60_000_000:
        text = moment.strftime("%H:%M:%S")
    else:
        text = moment.strftime("%H:%M")
    return text if same_day else moment.strftime("%Y-%m-%d ") + text


def _time_ticks(lo: int, hi: int, plot_w: float) -> tuple[int, list[int], bool]:
    same_day = datetime.fromtimestamp(lo / 1e6, UTC).date() == datetime.fromtimestamp(hi / 1e6, UTC).date()
    for step in _STEPS_US + [86_400_000_000 * k for k in (2, 7, 14, 30, 91, 365)]:
        width = text_width(_tick_label(lo, step, same_day)) + 16
        if (hi - lo) / step * width <= plot_w:
            break
    first = -(-lo // step) * step
    return step, list(range(first, hi + 1, step)), same_day


def _wrap(label: str, chars: int) -> list[str]:
    """Break a writer label into lines of at most ``chars``, at spaces (a word longer than a line is cut).

    >>> _wrap("host=batch-01 / process=25817", 16)
    ['host=batch-01 /', 'process=25817']
    """
    lines: list[str] = []
    for word in label.split(" "):
        pieces = [word[i:i + chars] for i in range(0, len(word), chars)] or [""]
        for piece in pieces:
            if lines and (len(lines[-1]) + 1 + len(piece) <= chars or piece == "/"):
                lines[-1] = f"{lines[-1]} {piece}"
            else:
                lines.append(piece)
    return [line for line in lines if line.strip()] or [label]


def _marker(shape: str, x: float, y: float, colour: str, title: str) -> str:
    t = f"<title>{escape(title)}</title>" if title else ""
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">{t}</circle>'
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}">{t}</rect>'
    if shape == "triangle":
        return (f'<polygon points="{x:.1f},{y - 5:.1f} {x - 5:.1f},{y + 4:.1f} {x + 5:.1f},{y + 4:.1f}" '
                f'fill="{colour}">{t}</polygon>')
    return (f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}" '
            f'fill="{colour}">{t}</polygon>')


def _timeline(points: list[tuple[int, str]], title: str, zone: str, max_lanes: int, width: int) -> str:
    lanes = sorted({w for _, w in points})
    shown = lanes[:max_lanes]
    if len(lanes) > max_lanes:
        shown.append(f"{len(lanes) - max_lanes:,} other writers")
    narrow = width == NARROW
    if narrow:   # the label on its own lines above each lane
        left, chars = 12, int((width - 24) // CHAR)
    else:        # a label column as wide as the longest label needs, up to a third of the chart
        chars = int((width / 3 - 30) // CHAR)
        longest = max(len(line) for lane in shown for line in _wrap(lane, chars))
        left = 30 + longest * CHAR + 10
    right = 14
    wrapped = [_wrap(lane, chars) for lane in shown]
    lane_hs = [(16 * len(w) + 18) if narrow else max(30, 16 * len(w) + 10) for w in wrapped]
    top = 10
    axis_y = top + sum(lane_hs) + 4
    height = axis_y + 48
    lo, hi = min(p[0] for p in points), max(p[0] for p in points)
    pad = max((hi - lo) // 30, 500)
    lo, hi = lo - pad, hi + pad
    plot_w = width - left - right

    def x(us: int) -> float:
        return left + (us - lo) / (hi - lo) * plot_w

    parts = [_svg("timeline", width, height, title)]
    lane_y: dict[str, float] = {}
    y = top
    for i, (lane, lines, lane_h) in enumerate(zip(shown, wrapped, lane_hs, strict=True)):
        shape, colour = SHAPES[i % len(SHAPES)], COLOURS[i % len(COLOURS)]
        label_x = 24 if not narrow else 28
        if narrow:
            parts.append(_marker(shape, 12, y + 10, colour, lane))
            for k, line in enumerate(lines):
                parts.append(_text(label_x, y + 14 + 16 * k, line, "start"))
            mid = y + 16 * len(lines) + 8
        else:
            mid = y + lane_h / 2
            parts.append(_marker(shape, 12, mid, colour, lane))
            first = mid + 4 - 8 * (len(lines) - 1)
            for k, line in enumerate(lines):
                parts.append(_text(label_x, first + 16 * k, line, "start"))
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{mid:.1f}" y2="{mid:.1f}" stroke="#ddd"/>')
        lane_y[lane] = mid
        y += lane_h
    other = shown[-1] if len(lanes) > max_lanes else None
    step, ticks, same_day = _time_ticks(lo, hi, plot_w)
    for us, writer in points:
        i = shown.index(writer) if writer in lane_y else len(shown) - 1
        # a phone has no pointer to hover with: the narrow drawing leaves out the per-write tooltips
        tooltip = "" if narrow else f"{writer} at {_tick_label(us, 1, False)}"
        parts.append(_marker(SHAPES[i % len(SHAPES)], x(us), lane_y.get(writer, lane_y.get(other, top)),
                             COLOURS[i % len(COLOURS)], tooltip))
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{axis_y}" y2="{axis_y}" stroke="#555"/>')
    for us in ticks:
        parts.append(f'<line x1="{x(us):.1f}" x2="{x(us):.1f}" y1="{axis_y}" y2="{axis_y + 5}" stroke="#555"/>')
    parts += _axis_labels([(x(us), _tick_label(us, step, same_day)) for us in ticks], axis_y + 19, width)
    day = datetime.fromtimestamp(lo / 1e6, UTC).strftime("%Y-%m-%d") if same_day else None
    caption = f"time on {day} ({zone})" if day else f"time ({zone})"
    parts.append(_text(width - right, axis_y + 40, caption, "end"))
    parts.append("</svg>")
    return "".join(parts)


def thinning(sizes: list[int], max_points: int = 600) -> int:
    """The step of ``thin`` for clusters of these many writes: 1 when all fit, else the smallest k >= 2 whose
    every k-th cluster fits (or one cluster in all, when a single cluster alone is over the limit)."""
    if sum(sizes) <= max_points:
        return 1
    step = 2
    while step < len(sizes) and sum(sizes[::step]) > max_points:  # one big cluster: stop
        step += 1
    return step


def thin_note(step: int, sizes: list[int], kept: int) -> str:
    """What thinning by ``step`` left out, '' when nothing was."""
    if step == 1:
        return ""
    return f"every {ordinal(step)} of {len(sizes):,} clusters shown: {kept:,} of {sum(sizes):,} writes"


def thin(clusters: list[list[Any]], max_points: int = 600) -> tuple[list[Any], str]:
    """Keep every k-th cluster whole (so each kept write keeps its duplicate) to stay under ``max_points``.

    Returns the points to draw and a note saying what was left out ('' when nothing was).

    >>> points, note = thin([[(1, "a"), (2, "b")]] * 1217, max_points=600)
    >>> len(points), note
    (488, 'every 5th of 1,217 clusters shown: 488 of 2,434 writes')
    """
    sizes = [len(c) for c in clusters]
    step = thinning(sizes, max_points)
    kept = [p for c in clusters[::step] for p in c]
    return kept, thin_note(step, sizes, len(kept))


def timeline(clusters: list[list[Any]], title: str, zone: str = "UTC", max_lanes: int = 8, max_points: int = 600,
             point: Callable[[Any], tuple[int, str]] | None = None, note: str | None = None) -> tuple[Markup, str]:
    """Who wrote when: one lane per writer, a marker per duplicate write (time in µs, writer label).

    Big incidents are thinned a whole cluster at a time; the returned note says so. ``point`` turns a write
    into (µs, writer label), applied only to the writes kept. With ``note``, ``clusters`` were thinned already
    (by the caller, who read only the clusters ``thinning`` keeps) and are all drawn.
    """
    if note is None:
        kept, note = thin(clusters, max_points)
    else:
        kept = [p for c in clusters for p in c]
    points = [point(w) for w in kept] if point else kept
    if not points:
        return Markup(""), ""
    full = f"{title} ({note})" if note else title
    return _both(_timeline, points, full, zone, max_lanes), note
