"""A journey's report as the page's tables and the steps CSV: the router's numbers as it
answered them (pure; `reports.tables` writes the CSV, injection-safe)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from metaconnect_console.reports.tables import Column, Table, table

WINDOWS: Final = {"7": "7 days", "30": "30 days", "90": "90 days"}
"""The window selector: walks entered in the last so many days."""
DEFAULT_WINDOW: Final = "30"

STEP_COLUMNS: Final = (
    Column("step_id", "Step", "text"),
    Column("kind", "Kind", "text"),
    Column("reached", "Reached"),
    Column("resting", "Resting now"),
    Column("outcomes", "Outcomes", "text"),
)


def outcomes_text(outcomes: Mapping[str, Any]) -> str:
    """`sent 12, dropped 3`: the most frequent first."""
    ordered = sorted(outcomes.items(), key=lambda kv: (-int(kv[1]), kv[0]))
    return ", ".join(f"{outcome} {count}" for outcome, count in ordered)


def steps_table(report: Mapping[str, Any]) -> Table:
    """The report's steps, one row each (the current version's in order, then older versions')."""
    rows = [{**row, "outcomes": outcomes_text(row.get("outcomes") or {})} for row in report.get("steps") or []]
    return table("steps", "Each step: walks that ran it, walks resting there now, what came of it", STEP_COLUMNS, rows)


def by_step(report: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """The report's step rows by step id (what the graph's boxes show)."""
    return {str(row["step_id"]): row for row in (report or {}).get("steps") or []}


def percent(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f} %"


def points(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:+.1f} pp"


def interval(share: Mapping[str, Any] | None, *, signed: bool = False) -> str:
    """A 95 % interval as people read it: `12.0 % to 30.1 %`, or a dash without one."""
    if not share or share.get("low") is None or share.get("high") is None:
        return "—"
    show = points if signed else percent
    return f"{show(share['low'])} to {show(share['high'])}"


def csv_name(journey: str, window: str) -> str:
    """metaconnect-journey-<name>-steps-<days>d.csv, only characters safe in a header and a file name."""
    text = f"metaconnect-journey-{journey}-steps-{window}d"
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text) + ".csv"
