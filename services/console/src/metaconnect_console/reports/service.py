"""Each report: which service API answers it, and its answer as a table and a chart.

The console computes nothing here: the router and delivery reports count, rate and estimate
intervals; this module only arranges their rows (periods as categories, groups as series).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from markupsafe import Markup

from metaconnect_console.api import Services
from metaconnect_console.auth.service import Person
from metaconnect_console.reports import charts, funnel
from metaconnect_console.reports.tables import Column, Table, duration, table

Period = Literal["day", "week"]
PERIODS: tuple[Period, ...] = ("day", "week")
ENGAGEMENT_GROUPS = ("route", "channel", "tone", "pattern")
COHORTS = ("week", "none")
OVERALL = "(all routes)"
NO_PROVIDER = "(no provider)"


@dataclass(frozen=True)
class Filters:
    """What the person asked for, passed to the services as they typed it: the services validate."""

    period: str = "day"
    since: str = ""
    until: str = ""
    route: str = ""
    engagement_by: str = "route"
    cohort: str = "week"

    def window(self) -> dict[str, str]:
        return {"since": self.since, "until": self.until, "route": self.route}

    def query(self) -> dict[str, str]:
        """The filters as a page or CSV link carries them (empty ones left out)."""
        values = {
            "period": self.period,
            "since": self.since,
            "until": self.until,
            "route": self.route,
            "engagement_by": self.engagement_by,
            "cohort": self.cohort,
        }
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class Section:
    """One chart with its table (and CSV)."""

    table: Table
    chart: Markup
    summary: Mapping[str, str] = field(default_factory=dict)
    note: str = ""


def _categories(rows: list[dict[str, Any]], key: str) -> list[str]:
    return list(dict.fromkeys(str(r[key]) for r in rows))


def by_period(
    rows: list[dict[str, Any]], value: str, *, label: Callable[[Any], str] = str
) -> tuple[list[str], list[charts.Series]]:
    """Periods (oldest first, as the API orders them) and a series per group: the API's `value` per cell."""
    periods = _categories(rows, "period")
    groups = list(dict.fromkeys(label(r["group"]) for r in rows))
    cells = {(str(r["period"]), label(r["group"])): r[value] for r in rows}
    series = [charts.Series(g, [cells.get((p, g)) for p in periods]) for g in groups]
    return periods, series


def group_label(value: Any) -> str:
    return "(none)" if value is None else str(value)


async def decisions(services: Services, person: Person, f: Filters) -> Section:
    body = await services.get(
        person, "router", "/v1/reports/decisions/over-time", group_by="outcome", period=f.period, **f.window()
    )
    rows = body["rows"]
    t = table(
        "decisions",
        f"Decisions by outcome, per {f.period}",
        [
            Column("period", "Period", "text"),
            Column("group", "Outcome", "text"),
            Column("decisions", "Decisions"),
            Column("sent", "Items sent"),
            Column("failed", "Items failed"),
            Column("engaged", "Items engaged"),
            Column("engagement_rate", "Engagement rate", "rate"),
        ],
        rows,
    )
    periods, series = by_period(rows, "decisions", label=group_label)
    return Section(t, charts.stacked_bar_chart(t.caption, periods, series))


async def engagement(services: Services, person: Person, f: Filters) -> Section:
    body = await services.get(
        person,
        "router",
        "/v1/reports/engagement/over-time",
        group_by=f.engagement_by,
        period=f.period,
        **f.window(),
    )
    rows = body["rows"]
    t = table(
        "engagement",
        f"Engagement rate by {body['group_by']}, per {f.period}",
        [
            Column("period", "Period", "text"),
            Column("group", body["group_by"].capitalize(), "text"),
            Column("sent", "Items sent"),
            Column("failed", "Items failed"),
            Column("engaged", "Items engaged"),
            Column("engagement_rate", "Engagement rate", "rate"),
        ],
        rows,
    )
    periods, series = by_period(rows, "engagement_rate", label=group_label)
    return Section(t, charts.line_chart(t.caption, periods, series, top=1.0))


def _uplift_row(route: str, u: dict[str, Any]) -> dict[str, Any]:
    interval = u["interval"] or {}
    return {
        "route": route,
        "treated_customers": u["treated"]["customers"],
        "treated_engaged": u["treated"]["engaged"],
        "treated_rate": u["treated"]["rate"],
        "holdout_customers": u["holdout"]["customers"],
        "holdout_engaged": u["holdout"]["engaged"],
        "holdout_rate": u["holdout"]["rate"],
        "uplift": u["uplift"],
        "low": interval.get("low"),
        "high": interval.get("high"),
        "relative_lift": u["relative_lift"],
    }


async def uplift(services: Services, person: Person, f: Filters) -> Section:
    body = await services.get(person, "router", "/v1/reports/uplift", **f.window())
    rows = [_uplift_row(u["route"], u) for u in body["routes"]]
    if body["routes"]:
        rows.append(_uplift_row(OVERALL, body["overall"]))
    confidence = f"{body['confidence'] * 100:g} %"
    t = table(
        "uplift",
        f"Engagement uplift against the holdout, with its {confidence} interval",
        [
            Column("route", "Route", "text"),
            Column("treated_customers", "Treated customers"),
            Column("treated_engaged", "Treated engaged"),
            Column("treated_rate", "Treated rate", "rate"),
            Column("holdout_customers", "Holdout customers"),
            Column("holdout_engaged", "Holdout engaged"),
            Column("holdout_rate", "Holdout rate", "rate"),
            Column("uplift", "Uplift", "share"),
            Column("low", "Interval low", "share"),
            Column("high", "Interval high", "share"),
            Column("relative_lift", "Relative lift", "rate"),
        ],
        rows,
    )
    chart = charts.interval_plot(
        t.caption, [charts.Interval(r["route"], r["uplift"], r["low"], r["high"]) for r in rows]
    )
    note = (
        f"{body['overall']['routes_compared']} route(s) had customers in both cohorts; the overall row is "
        "stratified over those only. A route without holdout customers cannot be estimated."
    )
    return Section(t, chart, note=note)


def time_label(row: dict[str, Any]) -> str:
    low, high = row["at_least_seconds"], row["under_seconds"]
    if high is None:
        return f"{duration(low)} or more"
    return f"under {duration(high)}" if low == 0 else f"{duration(low)} to {duration(high)}"


async def bundles(services: Services, person: Person, f: Filters) -> tuple[Section, Section]:
    body = await services.get(person, "router", "/v1/reports/bundles", **f.window())
    sizes = table(
        "bundle-sizes",
        "Bundles by size (items in their delivery)",
        [Column("size", "Items in the delivery"), Column("bundles", "Bundles")],
        body["sizes"],
    )
    times = [{**r, "label": time_label(r)} for r in body["time_in_bundle"]]
    time_table = table(
        "time-in-bundle",
        "Bundles by time in bundle (opened to flushed)",
        [
            Column("label", "Time in bundle", "text"),
            Column("at_least_seconds", "At least (s)"),
            Column("under_seconds", "Under (s)"),
            Column("bundles", "Bundles"),
        ],
        times,
    )
    summary = {
        "Bundles flushed": f"{body['bundles']:,}",
        "Items sent in them": f"{body['items']:,}",
        "Mean size": "—" if body["mean_size"] is None else f"{body['mean_size']:.2f}",
        "Median time in bundle": "—" if body["median_seconds"] is None else duration(body["median_seconds"]),
        "90th percentile": "—" if body["p90_seconds"] is None else duration(body["p90_seconds"]),
    }
    size_chart = charts.bar_chart(
        sizes.caption, [str(r["size"]) for r in body["sizes"]], [r["bundles"] for r in body["sizes"]]
    )
    time_chart = (
        charts.bar_chart(time_table.caption, [r["label"] for r in times], [r["bundles"] for r in times])
        if body["bundles"]
        else charts.no_data(time_table.caption)
    )
    return Section(sizes, size_chart, summary=summary), Section(time_table, time_chart)


async def providers(services: Services, person: Person, f: Filters) -> Section:
    body = await services.get(person, "delivery", "/v1/reports/providers", since=f.since, until=f.until)
    rows = body["rows"]
    t = table(
        "providers",
        "Deliveries and failures by provider",
        [
            Column("provider", "Provider", "text"),
            Column("deliveries", "Deliveries"),
            Column("sent", "Sent"),
            Column("failed", "Failed"),
            Column("pending", "Pending"),
            Column("failure_rate", "Failure rate", "rate"),
            Column("attempts", "Attempts"),
            Column("failed_attempts", "Failed attempts"),
        ],
        rows,
    )
    names = [NO_PROVIDER if r["provider"] is None else r["provider"] for r in rows]
    series = [charts.Series(k.capitalize(), [r[k] for r in rows]) for k in ("sent", "failed", "pending")]
    note = "Deliveries are not kept per route: the route filter does not apply here."
    return Section(t, charts.stacked_bar_chart(t.caption, names, series), note=note)


async def lifecycle_funnel(services: Services, person: Person, f: Filters) -> tuple[Section, Section, Section]:
    """The profile service's funnel: by stage, by weekly cohort (when asked), entries per day or week."""
    body = await services.get(
        person,
        "profile",
        "/v1/reports/funnel",
        since=f.since,
        until=f.until,
        interval=f.period,
        cohort=None if f.cohort == "none" else f.cohort,
    )
    note = "From the profile service's stage history; the route filter does not apply here."
    stages, stage_chart = funnel.stages_table(body)
    cohorts, cohort_chart = funnel.cohorts_table(body)
    entries, entries_chart = funnel.entries_table(body)
    cohort_note = "" if body.get("cohorts") is not None else "Choose cohorts by week to see them."
    return (
        Section(stages, stage_chart, note=note),
        Section(cohorts, cohort_chart, note=cohort_note),
        Section(entries, entries_chart),
    )


FUNNEL_SECTIONS = ("funnel-stages", "funnel-cohorts", "funnel-entries")


async def every_report(services: Services, person: Person, f: Filters) -> list[Section]:
    """Every report of the page, asked of the services side by side."""
    d, e, u, b, p, lf = await asyncio.gather(
        decisions(services, person, f),
        engagement(services, person, f),
        uplift(services, person, f),
        bundles(services, person, f),
        providers(services, person, f),
        lifecycle_funnel(services, person, f),
    )
    return [d, e, u, *b, p, *lf]


async def one_report(services: Services, person: Person, f: Filters, name: str) -> Section | None:
    """The report a CSV link names, or None for no such report."""
    single: dict[str, Callable[[Services, Person, Filters], Awaitable[Section]]] = {
        "decisions": decisions,
        "engagement": engagement,
        "uplift": uplift,
        "providers": providers,
    }
    if name in single:
        return await single[name](services, person, f)
    if name in FUNNEL_SECTIONS:
        return (await lifecycle_funnel(services, person, f))[FUNNEL_SECTIONS.index(name)]
    if name in ("bundle-sizes", "time-in-bundle"):
        sizes, times = await bundles(services, person, f)
        return sizes if name == "bundle-sizes" else times
    return None
