"""Charts as inline SVG, drawn from numbers the services' reports computed (no I/O, no statistics).

Every chart is one `<svg role="img">` with a `<title>` and an `aria-label`; bars, points and
intervals carry their own `<title>` (shown on hover) and a `data-value`. Colours come from
classes (`series-0` …) styled in console.css: the page's CSP allows no inline style. Every text
is escaped here, so the result is markup a template may print as is. With nothing to draw a
chart says so ("No data") instead of drawing empty axes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 64
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_LABELS = 12
SERIES_CLASSES = 8
NO_DATA = "No data for these filters"


@dataclass(frozen=True)
class Series:
    """One named line or stack layer: a value per category (None: nothing to draw there)."""

    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Interval:
    """One row of an interval plot: an estimate and its interval (None: not estimable)."""

    label: str
    estimate: float | None
    low: float | None
    high: float | None


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _t(text: str) -> Markup:
    """Text for the SVG: escaped, and without the control characters XML has no place for."""
    return escape(_NOT_XML.sub("\ufffd", text))


def _n(x: float) -> str:
    """A coordinate: two decimals, never NaN or infinite."""
    if not math.isfinite(x):
        raise ValueError(f"a coordinate must be finite, got {x}")
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _number(value: float) -> str:
    """A value as a label shows it: integers whole, other numbers to 4 significant digits."""
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value` (1 for 0 or less)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-12):
            return float(step * power)
    return float(10 * power)  # unreachable: 10 * power is above any value


def _open(title: str, kind: str) -> list[str]:
    label = _t(title)
    return [
        f'<svg class="chart-svg {kind}" role="img" aria-label="{label}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{label}</title>",
    ]


def _close(parts: list[str]) -> Markup:
    parts.append("</svg>")
    return Markup("".join(parts))  # every text in `parts` went through `escape`


def no_data(title: str) -> Markup:
    """The chart's explicit empty state."""
    parts = _open(title, "no-data")
    parts.append(
        f'<text class="no-data-text" x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle">{_t(NO_DATA)}</text>'
    )
    return _close(parts)


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _y_axis(parts: list[str], top: float, bottom: float = 0.0) -> None:
    """Gridlines and labels at five even steps from `bottom` to `top`."""
    for i in range(5):
        value = bottom + (top - bottom) * i / 4
        y = TOP + PLOT_H - PLOT_H * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{_n(y)}" y2="{_n(y)}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{_n(y + 4)}" text-anchor="end">{_number(value)}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + PLOT_H}"/>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{TOP + PLOT_H}" y2="{TOP + PLOT_H}"/>')


def _x_labels(parts: list[str], labels: Sequence[str], centre: Sequence[float]) -> None:
    step = max(1, math.ceil(len(labels) / MAX_LABELS))
    for i in range(0, len(labels), step):
        x, y = centre[i], TOP + PLOT_H + 14
        text = labels[i] if len(labels[i]) <= 14 else labels[i][:13] + "…"
        parts.append(
            f'<text class="category" x="{_n(x)}" y="{y}" text-anchor="end" '
            f'transform="rotate(-30 {_n(x)} {y})">{_t(text)}</text>'
        )


def _legend(parts: list[str], names: Sequence[str]) -> None:
    x = LEFT
    for i, name in enumerate(names):
        text = name if len(name) <= 18 else name[:17] + "…"
        parts.append(
            f'<rect class="legend series-{i % SERIES_CLASSES}" x="{x}" y="8" width="10" height="10"/>'
            f'<text class="legend-text" x="{x + 14}" y="17">{_t(text)}</text>'
        )
        x += 24 + 8 * len(text)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float]) -> Markup:
    """One bar per label, heights proportional to the (non-negative) values from a zero baseline."""
    if len(labels) != len(values):
        raise ValueError("one value per label")
    if not labels:
        return no_data(title)
    return stacked_bar_chart(title, labels, [Series("", list(values))], legend=False)


def stacked_bar_chart(
    title: str, categories: Sequence[str], series: Sequence[Series], *, legend: bool = True
) -> Markup:
    """One bar per category, one segment per series stacked in order; None or 0 draws no segment."""
    if any(len(s.values) != len(categories) for s in series):
        raise ValueError("every series needs one value per category")
    if any(v < 0 for s in series for v in _finite(s.values)):
        raise ValueError("stacked bars need values of 0 or more")
    totals = [sum(_finite([s.values[i] for s in series])) for i in range(len(categories))]
    if not categories or not series:
        return no_data(title)
    top = nice_ceiling(max(totals))
    parts = _open(title, "bars")
    _y_axis(parts, top)
    slot = PLOT_W / len(categories)
    width = min(56.0, max(1.0, slot * 0.7))
    centres = [LEFT + slot * (i + 0.5) for i in range(len(categories))]
    for i, category in enumerate(categories):
        base = 0.0
        for k, s in enumerate(series):
            value = s.values[i]
            if value is None or value == 0:
                continue
            height = PLOT_H * value / top
            y = TOP + PLOT_H - PLOT_H * base / top - height
            name = f"{category} · {s.name}" if s.name else category
            parts.append(
                f'<rect class="bar series-{k % SERIES_CLASSES}" x="{_n(centres[i] - width / 2)}" y="{_n(y)}" '
                f'width="{_n(width)}" height="{_n(height)}" data-value="{_number(value)}">'
                f"<title>{_t(name)}: {_number(value)}</title></rect>"
            )
            base += value
    _x_labels(parts, categories, centres)
    if legend and len(series) > 1:
        _legend(parts, [s.name for s in series])
    return _close(parts)


def line_chart(title: str, categories: Sequence[str], series: Sequence[Series], *, top: float | None = None) -> Markup:
    """One line per series over the categories (periods, oldest first), a point at every known value;
    a None leaves a gap. The scale runs from 0 to `top` (a rate: 1), or to a nice value above the largest."""
    if any(len(s.values) != len(categories) for s in series):
        raise ValueError("every series needs one value per category")
    known = [v for s in series for v in _finite(s.values)]
    if not categories or not known:
        return no_data(title)
    if any(v < 0 for v in known):
        raise ValueError("line charts here draw values of 0 or more")
    scale = top if top is not None and top >= max(known) else nice_ceiling(max(known))
    parts = _open(title, "lines")
    _y_axis(parts, scale)
    slot = PLOT_W / len(categories)
    centres = [LEFT + slot * (i + 0.5) for i in range(len(categories))]
    for k, s in enumerate(series):
        css = f"series-{k % SERIES_CLASSES}"
        run: list[str] = []
        points: list[str] = []
        for i, value in enumerate(s.values):
            if value is None or not math.isfinite(value):
                if len(run) > 1:
                    points.insert(0, f'<polyline class="line {css}" fill="none" points="{" ".join(run)}"/>')
                run = []
                continue
            x, y = centres[i], TOP + PLOT_H - PLOT_H * value / scale
            run.append(f"{_n(x)},{_n(y)}")
            name = f"{s.name} · {categories[i]}" if s.name else categories[i]
            points.append(
                f'<circle class="point {css}" cx="{_n(x)}" cy="{_n(y)}" r="3.5" data-value="{_number(value)}">'
                f"<title>{_t(name)}: {_number(value)}</title></circle>"
            )
        if len(run) > 1:
            points.insert(0, f'<polyline class="line {css}" fill="none" points="{" ".join(run)}"/>')
        parts += points
    _x_labels(parts, categories, centres)
    if len(series) > 1:
        _legend(parts, [s.name for s in series])
    return _close(parts)


def interval_plot(title: str, rows: Sequence[Interval]) -> Markup:
    """A forest plot: a row per label, the estimate as a point, its interval as a whisker, a line at 0.

    Rows without an estimate are listed with "not estimable" and draw nothing."""
    drawn = [
        (r.low, r.estimate, r.high) for r in rows if r.estimate is not None and r.low is not None and r.high is not None
    ]
    if not rows or not drawn:
        return no_data(title)
    for low, estimate, high in drawn:
        if not (math.isfinite(low) and math.isfinite(high) and low <= estimate <= high):
            raise ValueError(f"an interval must hold its estimate: {low} <= {estimate} <= {high}")
    reach = nice_ceiling(max(max(abs(low), abs(high)) for low, _, high in drawn))
    left, width = LEFT + 104, PLOT_W - 104
    row_h = min(36.0, PLOT_H / len(rows))

    def x_of(value: float) -> float:
        return left + width * (value + reach) / (2 * reach)

    parts = _open(title, "intervals")
    for i in range(5):
        value = -reach + 2 * reach * i / 4
        x = x_of(value)
        parts.append(f'<line class="grid" x1="{_n(x)}" x2="{_n(x)}" y1="{TOP}" y2="{TOP + PLOT_H}"/>')
        parts.append(
            f'<text class="tick" x="{_n(x)}" y="{TOP + PLOT_H + 16}" text-anchor="middle">{_number(value)}</text>'
        )
    zero = x_of(0.0)
    parts.append(f'<line class="zero" x1="{_n(zero)}" x2="{_n(zero)}" y1="{TOP - 6}" y2="{TOP + PLOT_H}"/>')
    for i, r in enumerate(rows):
        y = TOP + row_h * (i + 0.5)
        label = r.label if len(r.label) <= 16 else r.label[:15] + "…"
        parts.append(f'<text class="category" x="{left - 8}" y="{_n(y + 4)}" text-anchor="end">{_t(label)}</text>')
        if r.estimate is None or r.low is None or r.high is None:
            parts.append(f'<text class="hint-text" x="{_n(zero + 6)}" y="{_n(y + 4)}">not estimable</text>')
            continue
        tip = f"{r.label}: {_number(r.estimate)} ({_number(r.low)} to {_number(r.high)})"
        lo, hi = x_of(r.low), x_of(r.high)
        parts.append(
            f'<g class="interval" data-low="{_number(r.low)}" data-estimate="{_number(r.estimate)}" '
            f'data-high="{_number(r.high)}"><title>{_t(tip)}</title>'
            f'<line class="whisker" x1="{_n(lo)}" x2="{_n(hi)}" y1="{_n(y)}" y2="{_n(y)}"/>'
            f'<line class="whisker-end" x1="{_n(lo)}" x2="{_n(lo)}" y1="{_n(y - 6)}" y2="{_n(y + 6)}"/>'
            f'<line class="whisker-end" x1="{_n(hi)}" x2="{_n(hi)}" y1="{_n(y - 6)}" y2="{_n(y + 6)}"/>'
            f'<circle class="estimate" cx="{_n(x_of(r.estimate))}" cy="{_n(y)}" r="4.5"/></g>'
        )
    return _close(parts)


def funnel_chart(title: str, stages: Sequence[str], values: Sequence[int], notes: Sequence[str] = ()) -> Markup:
    """A funnel: a row per stage in order, a bar centred on one axis, its width proportional to the
    stage's (non-negative) count against the largest; `notes` (one per stage, optional) are written
    beside each bar (e.g. the conversion to the next stage)."""
    if len(stages) != len(values) or (notes and len(notes) != len(stages)):
        raise ValueError("one value (and note) per stage")
    if any(v < 0 for v in values):
        raise ValueError("a funnel counts 0 or more")
    if not stages or max(values) == 0:
        return no_data(title)
    label_w = 120
    left, width = LEFT + label_w, PLOT_W - label_w - 176  # room on the right for "1,234 · 100.0 % converted"
    row_h = min(40.0, (HEIGHT - TOP - 16) / len(stages))
    largest = max(values)
    middle = left + width / 2
    parts = _open(title, "funnel")
    for i, (stage, value) in enumerate(zip(stages, values, strict=True)):
        y = TOP + row_h * i
        bar = width * value / largest
        label = stage if len(stage) <= 18 else stage[:17] + "…"
        parts.append(
            f'<text class="category" x="{left - 8}" y="{_n(y + row_h / 2 + 4)}" text-anchor="end">{_t(label)}</text>'
        )
        if value:
            parts.append(
                f'<rect class="bar series-{i % SERIES_CLASSES}" x="{_n(middle - bar / 2)}" y="{_n(y + 2)}" '
                f'width="{_n(bar)}" height="{_n(max(1.0, row_h - 4))}" data-value="{value}">'
                f"<title>{_t(stage)}: {value}</title></rect>"
            )
        note = f"{value}" + (f" · {notes[i]}" if notes and notes[i] else "")
        parts.append(f'<text class="tick" x="{left + width + 8}" y="{_n(y + row_h / 2 + 4)}">{_t(note)}</text>')
    return _close(parts)
