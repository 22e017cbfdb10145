"""The digest builder (pure): the report APIs' answers in, text, HTML and JSON out, with every
count as the API gave it and every authored name escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from metaconnect_console.digest.compose import (
    Digest,
    as_html,
    as_json,
    as_text,
    duration,
    journey_line,
    percent,
    points,
    stage_lines,
    subject,
    uplift_line,
)

SINCE = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
UNTIL = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
SIMPLE_TAGS = {"html", "head", "meta", "title", "body", "h1", "h2", "p", "table", "thead", "tbody", "tr", "th", "td"}

FUNNEL: dict[str, Any] = {
    "since": SINCE.isoformat(),
    "until": UNTIL.isoformat(),
    "lifecycle_version": 1,
    "interval": "day",
    "stages": [
        {
            "stage": "lead",
            "customers_now": 12,
            "entered": 5,
            "converted": 2,
            "conversion": 0.4,
            "conversion_interval": {"low": 0.1176, "high": 0.7693},
            "drop_off": 0.6,
            "time_in_stage": {"stays": 5, "open_stays": 3, "median_s": 7200.0, "p90_s": None},
        },
        {
            "stage": "customer",
            "customers_now": 3,
            "entered": 0,
            "converted": 0,
            "conversion": None,
            "conversion_interval": None,
            "drop_off": None,
            "time_in_stage": {"stays": 0, "open_stays": 0, "median_s": None, "p90_s": None},
        },
    ],
    "cohorts": None,
    "over_time": [],
}
JOURNEY: dict[str, Any] = {
    "journey": "welcome",
    "entered": 10,
    "converted": {"walks": 3, "of": 10, "rate": 0.3, "low": 0.1078, "high": 0.6032},
    "holdout": {
        "treated": {"walks": 3, "of": 8, "rate": 0.375, "low": 0.1, "high": 0.7},
        "holdout": {"walks": 0, "of": 2, "rate": 0.0, "low": 0.0, "high": 0.66},
        "uplift": 0.375,
        "relative_lift": None,
        "low": -0.2,
        "high": 0.7,
    },
}
UPLIFT: dict[str, Any] = {
    "overall": {
        "holdout": {"customers": 30, "engaged": 3, "rate": 0.1},
        "treated": {"customers": 120, "engaged": 18, "rate": 0.15},
        "uplift": 0.05,
        "relative_lift": 0.5,
        "interval": {"low": -0.07, "high": 0.14},
        "routes_compared": 4,
    }
}


def digest(**changes: Any) -> Digest:
    values: dict[str, Any] = {
        "since": SINCE,
        "until": UNTIL,
        "zone": "Europe/Berlin",
        "stages": stage_lines(FUNNEL),
        "journeys": [journey_line("welcome", JOURNEY)],
        "uplift": uplift_line(UPLIFT),
    }
    return Digest(**(values | changes))


def test_the_text_names_each_stage_journey_and_the_uplift_with_the_apis_numbers() -> None:
    text = as_text(digest())
    assert text.splitlines()[:2] == [
        "Metaconnect digest: the week to 07 Dec 2026",
        "Mon 30 Nov 2026 08:00 to Mon 07 Dec 2026 08:00 (Europe/Berlin)",
    ]
    assert "  lead: 12 now, 5 entered, 2 converted (40.0% (95% CI 11.8% to 76.9%)), median time in stage 2.0 h" in text
    assert "  customer: 3 now, 0 entered, 0 converted (n/a), median time in stage not reached yet" in text
    assert (
        "  welcome: 10 entered, 3 converted (30.0% (95% CI 10.8% to 60.3%)), "
        "uplift vs holdout +37.5 pp (95% CI -20.0 pp to +70.0 pp)" in text
    )
    assert "  +5.0 pp engagement vs holdout (95% CI -7.0 pp to +14.0 pp) over 4 routes" in text
    assert "(120 personalised customers, 30 held out)" in text


def test_what_a_service_could_not_give_is_said_never_guessed() -> None:
    text = as_text(digest(stages=[], journeys=[], uplift=None, missing=("funnel", "uplift")))
    assert "  no stages" in text
    assert "  none active" in text
    assert "Personalisation uplift (all routes)\n  not available" in text
    assert "Not included (the service did not answer): funnel, uplift" in text
    assert "not measurable yet" in as_text(digest(uplift=uplift_line({"overall": {"uplift": None}})))


def test_the_json_keeps_the_apis_values_exactly() -> None:
    data = as_json(digest())
    assert data["kind"] == "metaconnect.digest"
    assert data["since"] == SINCE.isoformat()
    assert data["funnel"][0] == {
        "stage": "lead",
        "customers_now": 12,
        "entered": 5,
        "converted": 2,
        "conversion": 0.4,
        "conversion_low": 0.1176,
        "conversion_high": 0.7693,
        "median_s": 7200.0,
    }
    assert data["journeys"][0]["uplift"] == 0.375
    assert data["uplift"]["routes_compared"] == 4


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}


def _tags(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_the_html_is_simple_tables_with_no_script_style_or_resource() -> None:
    html = as_html(digest())
    parsed = _tags(html)
    assert parsed.tags <= SIMPLE_TAGS
    assert parsed.attributes <= {"lang", "charset"}
    assert "<td>lead</td><td>12</td><td>5</td><td>2</td>" in html


names = st.text(min_size=1, max_size=30)
counts = st.integers(min_value=0, max_value=10**9)


@given(name=names, now=counts, entered=counts, converted=counts, journey=names)
def test_any_authored_name_is_text_in_the_html_and_every_count_appears_as_given(
    name: str, now: int, entered: int, converted: int, journey: str
) -> None:
    stage = {"stage": name, "customers_now": now, "entered": entered, "converted": converted, "conversion": None}
    report = {"entered": entered, "converted": {"walks": converted, "rate": None}, "holdout": {}}
    d = digest(stages=stage_lines({"stages": [stage]}), journeys=[journey_line(journey, report)])
    html = as_html(d)
    assert _tags(html).tags <= SIMPLE_TAGS
    assert f"<td>{escape(name)}</td><td>{now}</td><td>{entered}</td><td>{converted}</td>" in html
    assert f"<td>{escape(journey)}</td><td>{entered}</td><td>{converted}</td>" in html
    assert f"{name}: {now} now, {entered} entered, {converted} converted" in as_text(d)
    data = as_json(d)
    assert (data["funnel"][0]["stage"], data["funnel"][0]["entered"]) == (name, entered)


@given(st.floats(min_value=0, max_value=1))
def test_rates_read_as_percentages_and_differences_as_signed_points(rate: float) -> None:
    assert percent(rate) == f"{rate * 100:.1f}%"
    assert points(rate) == f"{rate * 100:+.1f} pp"
    assert points(-rate) == f"{-rate * 100:+.1f} pp"


def test_durations_read_in_the_unit_that_suits_them() -> None:
    shown = [duration(s) for s in (None, 45, 600, 7200, 3 * 86400)]
    assert shown == ["not reached yet", "45 s", "10 min", "2.0 h", "3.0 d"]


def test_the_subject_names_the_weeks_last_local_day() -> None:
    late_sunday_utc = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # Monday 00:30 in Berlin
    assert subject(digest(until=late_sunday_utc)) == "Metaconnect digest: the week to 07 Dec 2026"
