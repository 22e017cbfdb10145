"""The lifecycle funnel (profile service, `GET /v1/reports/funnel`) as tables and charts (pure).

The numbers are the profile service's as it answered them: entries, conversions with their 95%
Wilson interval, drop-off and the Kaplan-Meier times in stage; this module only lays them out
(stages as rows, cohorts by ISO week, entries per day or week).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from metaconnect_console.reports import charts
from metaconnect_console.reports.tables import Column, Table, shown, table


def _stage_names(body: Mapping[str, Any]) -> list[str]:
    return [str(s["stage"]) for s in body["stages"]]


def _window(body: Mapping[str, Any]) -> str:
    return f"{str(body['since'])[:10]} to {str(body['until'])[:10]}, lifecycle version {body['lifecycle_version']}"


def stage_record(stage: Mapping[str, Any]) -> dict[str, Any]:
    """One stage's row: the API's fields, its interval and time in stage flattened."""
    interval = stage.get("conversion_interval") or {}
    times = stage["time_in_stage"]
    return {
        "stage": stage["stage"],
        "customers_now": stage["customers_now"],
        "entered": stage["entered"],
        "converted": stage["converted"],
        "conversion": stage["conversion"],
        "conversion_low": interval.get("low"),
        "conversion_high": interval.get("high"),
        "drop_off": stage["drop_off"],
        "stays": times["stays"],
        "open_stays": times["open_stays"],
        "median_s": times["median_s"],
        "p90_s": times["p90_s"],
    }


def stages_table(body: Mapping[str, Any]) -> tuple[Table, Markup]:
    records = [stage_record(s) for s in body["stages"]]
    t = table(
        "funnel-stages",
        f"Lifecycle funnel by stage ({_window(body)})",
        [
            Column("stage", "Stage", "text"),
            Column("customers_now", "Customers now"),
            Column("entered", "Entered"),
            Column("converted", "Converted"),
            Column("conversion", "Conversion", "rate"),
            Column("conversion_low", "95% interval low", "rate"),
            Column("conversion_high", "95% interval high", "rate"),
            Column("drop_off", "Drop-off", "rate"),
            Column("stays", "Stays"),
            Column("open_stays", "Still there"),
            Column("median_s", "Median time in stage", "duration"),
            Column("p90_s", "90th percentile time", "duration"),
        ],
        records,
    )
    notes = ["" if r["conversion"] is None else f"{shown(r['conversion'], 'rate')} converted" for r in records]
    chart = charts.funnel_chart(
        f"Customers who entered each stage ({_window(body)})",
        _stage_names(body),
        [int(r["entered"]) for r in records],
        notes,
    )
    return t, chart


def cohorts_table(body: Mapping[str, Any]) -> tuple[Table, Markup]:
    names = _stage_names(body)
    cohorts = body.get("cohorts") or []
    records = [
        {"week": c["week"], "customers": c["customers"], **{f"reached.{s}": c["reached"].get(s) for s in names}}
        for c in cohorts
    ]
    t = table(
        "funnel-cohorts",
        "Cohorts by the ISO week of their first stage: how many reached each stage or a later one",
        [
            Column("week", "Week of", "text"),
            Column("customers", "Customers"),
            *[Column(f"reached.{s}", f"Reached {s}") for s in names],
        ],
        records,
    )
    series = [charts.Series(s, [r[f"reached.{s}"] for r in records]) for s in names]
    chart = charts.line_chart(t.caption, [str(r["week"]) for r in records], series)
    return t, chart


def entries_table(body: Mapping[str, Any]) -> tuple[Table, Markup]:
    names = _stage_names(body)
    records = [{"start": p["start"], **{f"entered.{s}": p["entered"].get(s) for s in names}} for p in body["over_time"]]
    t = table(
        "funnel-entries",
        f"Entries into each stage, per {body['interval']}",
        [Column("start", str(body["interval"]).capitalize(), "text"), *[Column(f"entered.{s}", s) for s in names]],
        records,
    )
    series = [charts.Series(s, [r[f"entered.{s}"] for r in records]) for s in names]
    chart = charts.stacked_bar_chart(t.caption, [str(r["start"]) for r in records], series)
    return t, chart
