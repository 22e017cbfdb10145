"""The SVG charts, drawn directly: proportions, order, escaping, the empty state."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.reports import charts
from metaconnect_console.reports.charts import Interval, Series

NS = "{http://www.w3.org/2000/svg}"
counts = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=40)
labels = st.text(min_size=0, max_size=30)


GEOMETRY = ("x", "y", "width", "height", "cx", "cy", "r", "x1", "x2", "y1", "y2")


def parsed(svg: str) -> ET.Element:
    """The chart as XML, after checking what every chart promises: a labelled image, finite geometry."""
    root = ET.fromstring(svg)
    for element in root.iter():
        numbers = [element.get(a) for a in GEOMETRY if element.get(a) is not None]
        numbers += (element.get("points") or "").replace(",", " ").split()
        numbers += [v for k, v in element.attrib.items() if k.startswith("data-")]
        assert all(math.isfinite(float(n or "")) for n in numbers), element.attrib
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label")
    assert root.find(f"{NS}title") is not None
    assert "style=" not in svg
    return root


def bars(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter(f"{NS}rect") if "bar" in (e.get("class") or "").split()]


@given(counts)
def test_bar_heights_are_proportional_to_the_values(values: list[int]) -> None:
    root = parsed(charts.bar_chart("Bundles", [f"b{i}" for i in range(len(values))], values))
    if not any(values):
        return
    drawn = bars(root)
    assert [int(b.get("data-value", "")) for b in drawn] == [v for v in values if v]
    heights = [float(b.get("height", "")) for b in drawn]
    top = max(values)
    tallest = max(heights)
    for value, height in zip([v for v in values if v], heights, strict=True):
        assert math.isclose(height / tallest, value / top, abs_tol=0.02 / tallest + 1e-9)
    # Every bar stands on the baseline and stays inside the plot.
    for b in drawn:
        assert math.isclose(
            float(b.get("y", "")) + float(b.get("height", "")), charts.TOP + charts.PLOT_H, abs_tol=0.02
        )
        assert float(b.get("y", "")) >= charts.TOP - 0.01


@given(st.lists(st.tuples(st.lists(st.integers(0, 10**6), min_size=3, max_size=3), labels), min_size=1, max_size=4))
def test_stacked_segments_add_up_to_each_categorys_total(layers: list[tuple[list[int], str]]) -> None:
    categories = ["2026-12-01", "2026-12-02", "2026-12-03"]
    series = [Series(name, values) for values, name in layers]
    root = parsed(charts.stacked_bar_chart("Decisions", categories, series))
    totals = [sum(values[i] for values, _ in layers) for i in range(3)]
    if not any(totals):
        assert not bars(root)
        return
    top = charts.nice_ceiling(max(totals))
    by_x: dict[float, float] = {}
    for b in bars(root):
        x = float(b.get("x", ""))
        by_x[x] = by_x.get(x, 0.0) + float(b.get("height", ""))
    drawn = [by_x[x] for x in sorted(by_x)]
    assert len(drawn) == len([t for t in totals if t])
    for height, total in zip(drawn, [t for t in totals if t], strict=True):
        assert math.isclose(height, charts.PLOT_H * total / top, abs_tol=0.01 * len(layers))


def test_bars_say_what_they_are_and_escape_every_label() -> None:
    svg = charts.stacked_bar_chart(
        "Deliveries <by> provider",
        ['fcm"><script>alert(1)</script>', "twilio"],
        [Series("Sent", [3, 1]), Series("Failed & more", [1, 0])],
    )
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    root = parsed(str(svg))
    assert [b.get("data-value") for b in bars(root)] == ["3", "1", "1"]  # a 0 draws no segment
    titles = [t.text for b in bars(root) for t in b.iter(f"{NS}title")]
    assert titles[0] == 'fcm"><script>alert(1)</script> · Sent: 3'
    assert "Failed & more" in "".join(e.text or "" for e in root.iter(f"{NS}text"))  # the legend


@pytest.mark.parametrize(
    "svg",
    [
        charts.bar_chart("Nothing", [], []),
        charts.stacked_bar_chart("Nothing", [], []),
        charts.line_chart("Nothing", ["2026-12-01"], [Series("a", [None])]),
        charts.interval_plot("Nothing", []),
        charts.interval_plot("Nothing", [Interval("r", None, None, None)]),
    ],
)
def test_no_data_is_said_not_drawn_as_empty_axes(svg: str) -> None:
    root = parsed(str(svg))
    assert charts.NO_DATA in "".join(root.itertext())
    assert not bars(root)
    assert "no-data" in root.get("class", "")


@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.floats(min_value=0, max_value=1)), min_size=5, max_size=5),
        min_size=1,
        max_size=4,
    )
)
def test_line_points_sit_at_their_rates_and_gaps_stay_gaps(rates: list[list[float | None]]) -> None:
    periods = [f"2026-12-0{i + 1}" for i in range(5)]
    series = [Series(f"tone {k}", values) for k, values in enumerate(rates)]
    root = parsed(charts.line_chart("Engagement", periods, series, top=1.0))
    known = [v for values in rates for v in values if v is not None]
    points = [e for e in root.iter(f"{NS}circle") if "point" in (e.get("class") or "")]
    assert len(points) == len(known)
    for point, value in zip(points, known, strict=True):
        assert math.isclose(float(point.get("cy", "")), charts.TOP + charts.PLOT_H * (1 - value), abs_tol=0.01)


finite = st.floats(min_value=-1, max_value=1, allow_nan=False)


@given(st.lists(st.tuples(finite, finite, finite), min_size=1, max_size=8))
def test_interval_endpoints_are_placed_in_order_around_the_estimate(triples: list[tuple[float, float, float]]) -> None:
    rows = [Interval(f"route-{i}", *sorted(t)[1:2], *sorted(t)[::2]) for i, t in enumerate(triples)]
    rows = [Interval(r.label, sorted(t)[1], sorted(t)[0], sorted(t)[2]) for r, t in zip(rows, triples, strict=True)]
    root = parsed(charts.interval_plot("Uplift", rows))
    groups = [g for g in root.iter(f"{NS}g") if g.get("class") == "interval"]
    assert len(groups) == len(rows)
    zero = next(e for e in root.iter(f"{NS}line") if e.get("class") == "zero")
    zero_x = float(zero.get("x1", ""))
    for g, row in zip(groups, rows, strict=True):
        whisker = next(e for e in g.iter(f"{NS}line") if e.get("class") == "whisker")
        estimate = next(g.iter(f"{NS}circle"))
        low, high, x = float(whisker.get("x1", "")), float(whisker.get("x2", "")), float(estimate.get("cx", ""))
        assert low <= x <= high
        assert row.low is not None
        assert row.high is not None
        # The zero line lies between the whisker's ends exactly when the interval holds 0.
        if row.low < -1e-6 and row.high > 1e-6:
            assert low <= zero_x <= high
        if row.low > 1e-6:
            assert low >= zero_x  # never left of zero (a low end within a pixel of it is drawn on it)


def test_an_interval_plot_lists_routes_it_cannot_estimate() -> None:
    root = parsed(
        str(
            charts.interval_plot("Uplift", [Interval("cart", 0.05, -0.01, 0.11), Interval("welcome", None, None, None)])
        )
    )
    assert "not estimable" in "".join(root.itertext())
    assert len([g for g in root.iter(f"{NS}g") if g.get("class") == "interval"]) == 1


def test_an_interval_that_does_not_hold_its_estimate_is_refused() -> None:
    with pytest.raises(ValueError, match="hold its estimate"):
        charts.interval_plot("Uplift", [Interval("cart", 0.2, -0.1, 0.1)])


@pytest.mark.parametrize(
    ("value", "nice"), [(0, 1.0), (1, 1.0), (3, 5.0), (7, 10.0), (12, 20.0), (0.23, 0.25), (250, 250.0)]
)
def test_nice_ceiling(value: float, nice: float) -> None:
    assert charts.nice_ceiling(value) == nice
