"""How the API's rows become a chart's categories and series: arranged, never recomputed."""

from __future__ import annotations

from typing import Any

from metaconnect_console.reports.service import Filters, by_period, group_label, time_label


def test_rows_become_periods_in_the_apis_order_and_a_series_per_group_with_gaps() -> None:
    rows: list[dict[str, Any]] = [
        {"period": "2026-12-01", "group": "sent", "decisions": 5},
        {"period": "2026-12-01", "group": None, "decisions": 2},
        {"period": "2026-12-03", "group": "sent", "decisions": 1},
    ]
    periods, series = by_period(rows, "decisions", label=group_label)
    assert periods == ["2026-12-01", "2026-12-03"]
    assert [(s.name, list(s.values)) for s in series] == [("sent", [5, 1]), ("(none)", [2, None])]


def test_time_buckets_read_as_ranges() -> None:
    assert time_label({"at_least_seconds": 0, "under_seconds": 60}) == "under 1 min"
    assert time_label({"at_least_seconds": 300, "under_seconds": 900}) == "5 min to 15 min"
    assert time_label({"at_least_seconds": 86400, "under_seconds": None}) == "1 d or more"


def test_filters_pass_through_as_typed_and_links_keep_only_those_set() -> None:
    f = Filters(period="week", since="2026-12-01", route="cart")
    assert f.window() == {"since": "2026-12-01", "until": "", "route": "cart"}
    assert f.query() == {
        "period": "week",
        "since": "2026-12-01",
        "route": "cart",
        "engagement_by": "route",
        "cohort": "week",
    }
