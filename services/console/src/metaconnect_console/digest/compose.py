"""The management digest from the report APIs' answers: plain text, simple HTML and JSON (pure).

Counts in, text out: every number is the value the API answered (rates shown as percentages,
the JSON keeps them exact); nothing is recomputed. Names people authored (stages, journeys)
are escaped in the HTML, which has no script, no style and no external resource.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import escape


@dataclass(frozen=True)
class StageLine:
    stage: str
    customers_now: int
    entered: int
    converted: int
    conversion: float | None
    conversion_low: float | None
    conversion_high: float | None
    median_s: float | None
    """Median time in stage (Kaplan-Meier); None when half have not left yet."""


@dataclass(frozen=True)
class JourneyLine:
    journey: str
    entered: int
    converted: int
    conversion: float | None
    conversion_low: float | None
    conversion_high: float | None
    uplift: float | None
    """Treated minus holdout conversion; None unless both have walks."""
    uplift_low: float | None
    uplift_high: float | None


@dataclass(frozen=True)
class UpliftLine:
    uplift: float | None
    low: float | None
    high: float | None
    relative_lift: float | None
    routes_compared: int
    treated_customers: int
    holdout_customers: int


@dataclass(frozen=True)
class Digest:
    since: datetime
    until: datetime
    zone: str
    stages: Sequence[StageLine]
    journeys: Sequence[JourneyLine]
    uplift: UpliftLine | None
    missing: Sequence[str] = ()
    """Reports a service could not give (e.g. "funnel"): said so in the digest, never guessed."""


def _interval(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, Mapping):
        return value.get("low"), value.get("high")
    return None, None


def stage_lines(funnel: Mapping[str, Any]) -> list[StageLine]:
    """`GET /v1/reports/funnel`'s stages, in lifecycle order."""
    lines = []
    for s in funnel.get("stages") or []:
        low, high = _interval(s.get("conversion_interval"))
        lines.append(
            StageLine(
                stage=str(s["stage"]),
                customers_now=int(s["customers_now"]),
                entered=int(s["entered"]),
                converted=int(s["converted"]),
                conversion=s.get("conversion"),
                conversion_low=low,
                conversion_high=high,
                median_s=(s.get("time_in_stage") or {}).get("median_s"),
            )
        )
    return lines


def journey_line(name: str, report: Mapping[str, Any]) -> JourneyLine:
    """`GET /v1/reports/journeys/{name}`: entered, converted with its interval, the holdout uplift."""
    converted = report.get("converted") or {}
    holdout = report.get("holdout") or {}
    return JourneyLine(
        journey=name,
        entered=int(report["entered"]),
        converted=int(converted.get("walks", 0)),
        conversion=converted.get("rate"),
        conversion_low=converted.get("low"),
        conversion_high=converted.get("high"),
        uplift=holdout.get("uplift"),
        uplift_low=holdout.get("low"),
        uplift_high=holdout.get("high"),
    )


def uplift_line(report: Mapping[str, Any]) -> UpliftLine:
    """`GET /v1/reports/uplift`'s `overall`: every compared route, stratified."""
    overall = report.get("overall") or {}
    low, high = _interval(overall.get("interval"))
    return UpliftLine(
        uplift=overall.get("uplift"),
        low=low,
        high=high,
        relative_lift=overall.get("relative_lift"),
        routes_compared=int(overall.get("routes_compared", 0)),
        treated_customers=int((overall.get("treated") or {}).get("customers", 0)),
        holdout_customers=int((overall.get("holdout") or {}).get("customers", 0)),
    )


# --- how numbers read -----------------------------------------------------------------------------------


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def points(value: float | None) -> str:
    """A difference of rates in percentage points, signed."""
    return "n/a" if value is None else f"{value * 100:+.1f} pp"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "not reached yet"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _ci(low: float | None, high: float | None, shown: Any = percent) -> str:
    return "" if low is None or high is None else f" (95% CI {shown(low)} to {shown(high)})"


def period_text(digest: Digest) -> str:
    zone = ZoneInfo(digest.zone)
    since, until = digest.since.astimezone(zone), digest.until.astimezone(zone)
    return f"{since:%a %d %b %Y %H:%M} to {until:%a %d %b %Y %H:%M} ({digest.zone})"


def subject(digest: Digest) -> str:
    until = digest.until.astimezone(ZoneInfo(digest.zone))
    return f"Metaconnect digest: the week to {until:%d %b %Y}"


def stage_text(s: StageLine) -> str:
    return (
        f"{s.stage}: {s.customers_now} now, {s.entered} entered, {s.converted} converted "
        f"({percent(s.conversion)}{_ci(s.conversion_low, s.conversion_high)}), "
        f"median time in stage {duration(s.median_s)}"
    )


def journey_text(j: JourneyLine) -> str:
    line = (
        f"{j.journey}: {j.entered} entered, {j.converted} converted "
        f"({percent(j.conversion)}{_ci(j.conversion_low, j.conversion_high)})"
    )
    if j.uplift is not None:
        line += f", uplift vs holdout {points(j.uplift)}{_ci(j.uplift_low, j.uplift_high, points)}"
    return line


def uplift_text(u: UpliftLine) -> str:
    if u.uplift is None:
        return "not measurable yet: no route has customers in both cohorts"
    return (
        f"{points(u.uplift)} engagement vs holdout{_ci(u.low, u.high, points)} over {u.routes_compared} "
        f"routes ({u.treated_customers} personalised customers, {u.holdout_customers} held out)"
    )


def as_text(digest: Digest) -> str:
    """The plain-text e-mail body."""
    lines = [subject(digest), period_text(digest), "", "Lifecycle funnel"]
    lines += [f"  {stage_text(s)}" for s in digest.stages] or ["  no stages"]
    lines += ["", "Active journeys"]
    lines += [f"  {journey_text(j)}" for j in digest.journeys] or ["  none active"]
    lines += ["", "Personalisation uplift (all routes)"]
    lines.append(f"  {uplift_text(digest.uplift)}" if digest.uplift else "  not available")
    if digest.missing:
        lines += ["", "Not included (the service did not answer): " + ", ".join(digest.missing)]
    return "\n".join(lines) + "\n"


def as_html(digest: Digest) -> str:
    """A simple HTML e-mail: headings, tables, text. Every authored name escaped."""
    e = escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(subject(digest))}</title></head><body>",
        f"<h1>{e(subject(digest))}</h1>",
        f"<p>{e(period_text(digest))}</p>",
        "<h2>Lifecycle funnel</h2>",
    ]
    if digest.stages:
        parts.append(
            "<table><thead><tr><th>Stage</th><th>Now</th><th>Entered</th><th>Converted</th>"
            "<th>Conversion (95% CI)</th><th>Median time in stage</th></tr></thead><tbody>"
        )
        for s in digest.stages:
            parts.append(
                f"<tr><td>{e(s.stage)}</td><td>{s.customers_now}</td><td>{s.entered}</td><td>{s.converted}</td>"
                f"<td>{e(percent(s.conversion) + _ci(s.conversion_low, s.conversion_high))}</td>"
                f"<td>{e(duration(s.median_s))}</td></tr>"
            )
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No stages.</p>")
    parts.append("<h2>Active journeys</h2>")
    if digest.journeys:
        parts.append(
            "<table><thead><tr><th>Journey</th><th>Entered</th><th>Converted</th><th>Conversion (95% CI)</th>"
            "<th>Uplift vs holdout (95% CI)</th></tr></thead><tbody>"
        )
        for j in digest.journeys:
            uplift = points(j.uplift) + _ci(j.uplift_low, j.uplift_high, points)
            parts.append(
                f"<tr><td>{e(j.journey)}</td><td>{j.entered}</td><td>{j.converted}</td>"
                f"<td>{e(percent(j.conversion) + _ci(j.conversion_low, j.conversion_high))}</td>"
                f"<td>{e(uplift)}</td></tr>"
            )
        parts.append("</tbody></table>")
    else:
        parts.append("<p>None active.</p>")
    parts.append("<h2>Personalisation uplift (all routes)</h2>")
    parts.append(f"<p>{e(uplift_text(digest.uplift) if digest.uplift else 'not available')}</p>")
    if digest.missing:
        parts.append(f"<p>Not included (the service did not answer): {e(', '.join(digest.missing))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def as_json(digest: Digest) -> dict[str, Any]:
    """The webhook's `data`: the same numbers, exact, with the period in UTC."""
    return {
        "kind": "metaconnect.digest",
        "since": digest.since.isoformat(),
        "until": digest.until.isoformat(),
        "time_zone": digest.zone,
        "funnel": [asdict(s) for s in digest.stages],
        "journeys": [asdict(j) for j in digest.journeys],
        "uplift": asdict(digest.uplift) if digest.uplift else None,
        "missing": list(digest.missing),
    }
