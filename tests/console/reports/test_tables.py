"""Tables and CSV: the API's values untouched, text that would be a formula defused."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.reports.endpoints import csv_filename
from metaconnect_console.reports.service import Filters
from metaconnect_console.reports.tables import Column, csv_cell, csv_text, duration, shown, table

COLUMNS = [Column("group", "Route", "text"), Column("sent", "Sent"), Column("engagement_rate", "Rate", "rate")]


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("dangerous", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\r=1"])
def test_text_a_spreadsheet_would_run_gets_a_leading_quote(dangerous: str) -> None:
    assert csv_cell(dangerous) == "'" + dangerous
    rows = read(csv_text(table("engagement", "Engagement", COLUMNS, [{"group": dangerous, "sent": 1}])))
    assert rows[1][0] == "'" + dangerous


def test_numbers_stay_numbers_as_the_api_wrote_them() -> None:
    assert csv_cell(-0.0523) == "-0.0523"  # a negative uplift is a number, not a formula
    assert csv_cell(2 / 3) == "0.6666666666666666"
    assert csv_cell(12) == "12"
    assert csv_cell(None) == ""
    assert csv_cell("cart-reminder") == "cart-reminder"


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "group": st.one_of(st.none(), st.text(max_size=20)),
                "sent": st.integers(0, 10**12),
                "engagement_rate": st.one_of(st.none(), st.floats(0, 1)),
            }
        ),
        max_size=10,
    )
)
def test_the_csv_rows_read_back_as_the_apis_rows(records: list[dict[str, object]]) -> None:
    text = csv_text(table("engagement", "Engagement", COLUMNS, records))
    assert text.endswith("\r\n")
    header, *rows = read(text)
    assert header == ["group", "sent", "engagement_rate"]
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        group = record["group"]
        expected_group = "" if group is None else csv_cell(str(group))
        assert row[0] == expected_group
        assert int(row[1]) == record["sent"]
        rate = record["engagement_rate"]
        assert (json.loads(row[2]) if row[2] else None) == rate  # exactly the float the API sent


def test_the_page_shows_rates_as_percentages_and_durations_readably() -> None:
    assert shown(2 / 3, "rate") == "66.7 %"
    assert shown(-0.05, "share") == "-5.0 pp"
    assert shown(None, "rate") == "—"
    assert shown(12345, "count") == "12,345"
    assert [duration(s) for s in (30, 300, 5400, 10800, 172800)] == ["30 s", "5 min", "1.5 h", "3 h", "2 d"]


def test_the_csv_file_name_names_the_report_and_filters_and_nothing_else() -> None:
    f = Filters(period="week", since="2026-12-01", until="2026-12-07", route='cart"; x=1')
    assert csv_filename("decisions", f) == "metaconnect-decisions-cart___x_1-week-2026-12-01-2026-12-07.csv"
    assert csv_filename("providers", Filters()) == "metaconnect-providers.csv"
