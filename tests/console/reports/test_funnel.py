"""The lifecycle funnel laid out from the profile service's answer: the API's numbers untouched,
the funnel chart drawn in proportion, human durations, and the CSVs."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.reports import charts, funnel
from metaconnect_console.reports.endpoints import csv_filename
from metaconnect_console.reports.service import Filters
from metaconnect_console.reports.tables import csv_text, human_duration, shown
from tests.console.reports.test_charts import NS, bars, parsed

BODY: dict[str, Any] = {
    "since": "2026-11-07T00:00:00Z",
    "until": "2026-12-07T12:00:00Z",
    "lifecycle_version": 3,
    "interval": "week",
    "stages": [
        {
            "stage": "lead",
            "customers_now": 5,
            "entered": 8,
            "converted": 3,
            "conversion": 0.375,
            "conversion_interval": {"low": 0.1368, "high": 0.6943},
            "drop_off": 0.625,
            "time_in_stage": {"stays": 8, "open_stays": 5, "median_s": 277020.0, "p90_s": None},
        },
        {
            "stage": "=qualified",
            "customers_now": 3,
            "entered": 3,
            "converted": 0,
            "conversion": 0.0,
            "conversion_interval": {"low": 0.0, "high": 0.5615},
            "drop_off": 1.0,
            "time_in_stage": {"stays": 3, "open_stays": 3, "median_s": None, "p90_s": None},
        },
        {
            "stage": "sales",
            "customers_now": 0,
            "entered": 0,
            "converted": 0,
            "conversion": None,
            "conversion_interval": None,
            "drop_off": None,
            "time_in_stage": {"stays": 0, "open_stays": 0, "median_s": None, "p90_s": None},
        },
    ],
    "cohorts": [{"week": "2026-11-30", "customers": 8, "reached": {"lead": 8, "=qualified": 3, "sales": 0}}],
    "over_time": [
        {"start": "2026-11-30", "entered": {"lead": 6, "=qualified": 2, "sales": 0}},
        {"start": "2026-12-07", "entered": {"lead": 2, "=qualified": 1, "sales": 0}},
    ],
}


def test_the_stage_table_holds_the_apis_numbers_as_given() -> None:
    table, chart = funnel.stages_table(BODY)
    assert table.name == "funnel-stages"
    assert table.column("entered") == [8, 3, 0]
    assert table.column("conversion") == [0.375, 0.0, None]
    assert table.column("conversion_low") == [0.1368, 0.0, None]
    assert table.column("median_s") == [277020.0, None, None]
    assert "lifecycle version 3" in table.caption
    root = parsed(chart)
    assert [b.get("data-value") for b in bars(root)] == ["8", "3"]  # a stage nobody entered draws no bar
    assert "37.5 % converted" in chart
    text = csv_text(table)
    assert text.splitlines()[0].startswith("stage,customers_now,entered,converted,conversion,conversion_low")
    assert "\r\n'=qualified,3,3,0,0.0,0.0,0.5615,1.0,3,3,,\r\n" in text  # a formula-looking name is defused


def test_cohorts_and_entries_become_a_column_per_stage() -> None:
    cohorts, _ = funnel.cohorts_table(BODY)
    assert [c.key for c in cohorts.columns] == [
        "week",
        "customers",
        "reached.lead",
        "reached.=qualified",
        "reached.sales",
    ]
    assert cohorts.rows == [["2026-11-30", 8, 8, 3, 0]]
    entries, chart = funnel.entries_table(BODY)
    assert entries.caption == "Entries into each stage, per week"
    assert entries.rows == [["2026-11-30", 6, 2, 0], ["2026-12-07", 2, 1, 0]]
    assert len(bars(parsed(chart))) == 4
    without, chart = funnel.cohorts_table({**BODY, "cohorts": None})
    assert without.rows == []
    assert "No data" in chart


def test_times_in_stage_read_in_words() -> None:
    assert human_duration(0) == "0 seconds"
    assert human_duration(1) == "1 second"
    assert human_duration(90) == "1.5 minutes"
    assert human_duration(3600) == "1 hour"
    assert human_duration(277020) == "3.2 days"
    assert human_duration(86400 * 45) == "45 days"
    assert shown(277020.0, "duration") == "3.2 days"
    assert shown(None, "duration") == "—"
    with pytest.raises(ValueError, match="0 or more"):
        human_duration(-1)


@given(st.floats(min_value=0, max_value=10**9, allow_nan=False))
def test_a_duration_in_words_is_never_far_from_the_seconds(seconds: float) -> None:
    number, unit = human_duration(seconds).split(" ")
    size = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[unit.rstrip("s")]
    assert math.isclose(float(number) * size, seconds, rel_tol=0.06, abs_tol=0.5 * size if seconds < 10 * size else 0)


stage_names = st.lists(st.text(min_size=1, max_size=25), min_size=1, max_size=30)


@given(
    stage_names.flatmap(
        lambda names: st.tuples(
            st.just(names), st.lists(st.integers(0, 10**7), min_size=len(names), max_size=len(names))
        )
    )
)
def test_funnel_bars_are_centred_and_as_wide_as_their_share_of_the_largest(case: tuple[list[str], list[int]]) -> None:
    names, values = case
    root = parsed(charts.funnel_chart("Funnel", names, values))
    drawn = bars(root)
    if max(values) == 0:
        assert drawn == []
        assert "No data" in ET.tostring(root, encoding="unicode")
        return
    assert [int(b.get("data-value") or "") for b in drawn] == [v for v in values if v]
    widest = max(float(b.get("width") or "") for b in drawn)
    centres = {round(float(b.get("x") or "") + float(b.get("width") or "") / 2, 1) for b in drawn}
    assert len(centres) == 1 or max(centres) - min(centres) <= 0.02
    for bar in drawn:
        share = int(bar.get("data-value") or "") / max(values)
        assert math.isclose(float(bar.get("width") or ""), widest * share, abs_tol=0.02)
    ys = [float(b.get("y") or "") for b in drawn]
    assert ys == sorted(ys)  # stages top to bottom in lifecycle order
    assert all(float(b.get("y") or "") + float(b.get("height") or "") <= charts.HEIGHT for b in drawn)


def test_the_funnel_chart_escapes_names_and_refuses_what_it_cannot_draw() -> None:
    svg = charts.funnel_chart("<b>", ["<script>x</script>"], [3], ["1 & 2"])
    root = parsed(svg)
    assert root.find(f"{NS}script") is None
    assert "&lt;script&gt;" in svg
    assert "1 &amp; 2" in svg
    with pytest.raises(ValueError, match="one value"):
        charts.funnel_chart("x", ["a", "b"], [1])
    with pytest.raises(ValueError, match="0 or more"):
        charts.funnel_chart("x", ["a"], [-1])


def test_a_funnel_csv_is_named_by_its_window_never_by_a_route() -> None:
    f = Filters(period="week", since="2026-11-01", until="2026-11-30", route="cart")
    assert csv_filename("funnel-stages", f) == "metaconnect-funnel-stages-2026-11-01-2026-11-30.csv"
    assert csv_filename("funnel-entries", f) == "metaconnect-funnel-entries-week-2026-11-01-2026-11-30.csv"
