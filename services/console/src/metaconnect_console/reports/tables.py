"""The reports as tables and CSV: the services' numbers as they answered them (no I/O).

A table's cells are the values of the report API's JSON, never recomputed: the page shows them
(rates as percentages, with the API's exact value beside), the CSV writes them as the API gave
them, and the chart draws them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Cell = str | int | float | None
Kind = Literal["text", "count", "rate", "share", "seconds", "duration"]

# A spreadsheet takes a text cell starting with one of these for a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: Kind = "count"

    @property
    def numeric(self) -> bool:
        return self.kind != "text"


@dataclass(frozen=True)
class Table:
    """One report's rows, the way its chart, its table and its CSV all show them."""

    name: str  # the CSV's file name stem, and the section's id
    caption: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell]]

    def column(self, key: str) -> list[Cell]:
        index = [c.key for c in self.columns].index(key)
        return [row[index] for row in self.rows]


def table(name: str, caption: str, columns: Sequence[Column], records: Sequence[dict[str, Any]]) -> Table:
    """A table of `records` (the API's JSON rows), one column per key, values untouched."""
    return Table(name, caption, columns, [[_cell(r.get(c.key)) for c in columns] for r in records])


def _cell(value: Any) -> Cell:
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)


def shown(value: Cell, kind: Kind) -> str:
    """A cell as the page's table shows it; the CSV has the exact value."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if kind == "rate":
        return f"{value * 100:.1f} %"
    if kind == "share":
        return f"{value * 100:+.1f} pp"
    if kind == "seconds":
        return duration(float(value))
    if kind == "duration":
        return human_duration(float(value))
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def duration(seconds: float) -> str:
    """A time in bundle as people read it: 45 s, 12 min, 3.5 h, 2 d."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} d"


def human_duration(seconds: float) -> str:
    """A time span in words: `45 seconds`, `12 minutes`, `3.5 hours`, `3.2 days`."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration is 0 or more, got {seconds}")
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            value = seconds / size
            text = f"{value:.0f}" if round(value, 1) >= 10 or round(value, 1).is_integer() else f"{value:.1f}"
            return f"{text} {unit}{'' if text == '1' else 's'}"
    text = f"{seconds:.0f}"
    return f"{text} second{'' if text == '1' else 's'}"


def csv_cell(value: Cell) -> str:
    """A CSV cell: a number as the API wrote it, nothing for null; text that a spreadsheet would take for
    a formula gets a leading `'` (numbers are never formulas, so a negative number stays a number)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a report has no {value}")
        return repr(value)  # the shortest text that reads back as this float, as the JSON had it
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_text(t: Table) -> str:
    """The table as CSV (RFC 4180: CRLF, quoted where needed), a header row of the API's field names."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(c.key) for c in t.columns])
    for row in t.rows:
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue()
