"""The route condition language: what holds, what is refused and why, and that nothing runs as code."""

from __future__ import annotations

import builtins
import os
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_common.conditions import MAX_LENGTH, Condition, ConditionError, parse_condition
from metaconnect_common.schemas import Channel, CustomerRef, Interaction
from metaconnect_common.schemas.profiled import ConsentState, ProfileSnapshot, Purpose

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _consent(granted: bool) -> ConsentState:
    return ConsentState(granted=granted, at=NOW - timedelta(days=40), source="app")


INTERACTION = Interaction(
    event_id=UUID(int=1),
    customer=CustomerRef(customer_id="c-1"),
    type="purchase.completed",
    channel=Channel.WEB,
    occurred_at=NOW - timedelta(hours=2),
    received_at=NOW - timedelta(hours=2),
    source="key_shop",
    properties={
        "amount": 49.5,
        "items": 3,
        "currency": "EUR",
        "first": True,
        "coupon": None,
        "tags": [],
        "cart": {"sku": "A-1", "size": {"eu": 42}},
        "utm-source": "newsletter",
        "quoted": 'say "hi"',
        "last_visit": "2025-05-31T12:00:00+02:00",
        "next_visit": "2025-06-02T12:00:00+00:00",
        "naive_at": "2025-06-01T11:00:00",
    },
)
PROFILE = ProfileSnapshot(
    lifecycle_stage="active",
    stage_entered_at=datetime(2025, 5, 25, 12, 0, tzinfo=UTC),
    locale="de-DE",
    time_zone="Europe/Berlin",
    purposes={Purpose.MARKETING: _consent(True)},
    channel_consent={Channel.PUSH: _consent(True), Channel.EMAIL: _consent(False)},
    reachable=[Channel.PUSH, Channel.EMAIL],
    holdout=False,
    traits={
        "vip": True,
        "orders": 12,
        "segment": "gold",
        "nickname": "O'Brien",
        "last_purchase_at": "2025-05-20T08:00Z",
    },
)
# What the router reads: the records as JSON (timestamps are ISO 8601 strings, enums strings).
EVENT = INTERACTION.model_dump(mode="json")
SNAPSHOT = PROFILE.model_dump(mode="json")

A = 'event.channel == "web"'  # true
B = "profile.traits.vip == true"  # true
C = "event.properties.amount > 100"  # false

TRUTH = [
    # comparisons
    ('event.type == "purchase.completed"', True),
    ("event.type == 'purchase.completed'", True),
    ('event.type == "Purchase.completed"', False),
    ('event.type != "app.opened"', True),
    ('event.type != "purchase.completed"', False),
    ('event.source == "key_shop"', True),
    ("event.properties.amount > 49", True),
    ("event.properties.amount >= 49.5", True),
    ("event.properties.amount < 49.5", False),
    ("event.properties.amount <= -1", False),
    ("event.properties.items == 3.0", True),
    ('event.properties.items == "3"', False),
    ('event.properties.items != "3"', False),
    ("event.properties.items != 4", True),
    ("event.properties.first != 1", False),
    ("event.properties.first != false", True),
    ("event.properties.currency > 3", False),
    ("event.properties.first == true", True),
    ("event.properties.first == 1", False),
    ("event.properties.items == true", False),
    ("event.properties.coupon == null", True),
    ("event.properties.coupon != null", False),
    ("event.properties.coupon == false", False),
    ('event.properties.coupon != "x"', True),
    ("event.properties.currency != null", True),
    ("event.properties.cart != null", True),
    ('event.properties.cart == "x"', False),
    ('event.properties.cart != "x"', False),
    ("event.properties.cart.size > 1", False),
    ("event.properties.cart.size.eu == 42", True),
    ('event.properties.cart.sku == "A-1"', True),
    ("event.properties.amount.cents == 1", False),
    ('event.properties.utm-source == "newsletter"', True),
    (r'event.properties.quoted == "say \"hi\""', True),
    (r"profile.traits.nickname == 'O\'Brien'", True),
    ('profile.lifecycle_stage == "active"', True),
    ('profile.locale == "de-DE" and profile.time_zone == "Europe/Berlin"', True),
    ("profile.channel_consent.push.granted == true", True),
    ("profile.channel_consent.email.granted == true", False),
    ("profile.channel_consent.sms.granted == false", False),
    ("profile.purposes.marketing.granted == true", True),
    ("profile.traits.orders >= 10 and profile.traits.vip == true", True),
    # membership
    ('profile.lifecycle_stage in ["new", "active"]', True),
    ('profile.lifecycle_stage not in ["new", "active"]', False),
    ("event.properties.items in [1, 2, 3]", True),
    ('event.properties.items in ["3"]', False),
    ("event.properties.first in [1]", False),
    ("event.properties.first in [true, null]", True),
    ('event.properties.missing not in ["x"]', False),
    ('event.properties.items not in ["3", "4"]', False),
    ('event.properties.items not in ["3", 4]', True),
    ("event.properties.coupon not in [1, 2]", True),
    ("event.properties.coupon in [1, null]", True),
    ('not (event.properties.missing in ["x"])', True),
    # exists
    ("exists(event.properties.amount)", True),
    ("exists(event.properties.coupon)", False),
    ("exists(event.properties.tags)", False),
    ("exists(event.properties.missing)", False),
    ("exists(profile.reachable)", True),
    ("not exists(profile.traits.churned_at)", True),
    # within
    ("event.occurred_at within 2h", True),
    ("event.occurred_at within 7200s", True),
    ("event.occurred_at within 119m", False),
    ("profile.traits.last_purchase_at within 30d", True),
    ("profile.traits.last_purchase_at within 12d", False),
    ("profile.stage_entered_at within 7d", True),
    ("profile.stage_entered_at within 6d", False),
    ('profile.lifecycle_stage == "active" and not (profile.stage_entered_at within 3d)', True),
    ("event.properties.last_visit within 1d", False),
    ("event.properties.last_visit within 2d", True),
    ("event.properties.next_visit within 366d", False),
    ("event.properties.naive_at within 366d", False),
    ("event.properties.currency within 1d", False),
    ("event.properties.amount within 1d", False),
    ("event.properties.missing within 1d", False),
    # missing fields fail every test; `not` of a failed test holds
    ("event.properties.missing == 1", False),
    ("event.properties.missing != 1", False),
    ("event.properties.missing < 1", False),
    ("not (event.properties.missing == 1)", True),
    # precedence: `not` over `and` over `or`
    (f"{A} or {B} and {C}", True),
    (f"({A} or {B}) and {C}", False),
    (f"{C} and {A} or {B}", True),
    (f"{C} and ({A} or {B})", False),
    (f"not {C} and {A}", True),
    (f"not ({C} or {A})", False),
    (f"not not {A}", True),
    (f"{C} or not {A} or {B} and not {C}", True),
    # whitespace is free
    ('event.type=="purchase.completed"and(event.properties.items>2)', True),
    ('event.type == "purchase.completed"\n  and event.properties.items in [\n    3,\n    4\n  ]', True),
]


@pytest.mark.parametrize(("source", "expected"), TRUTH)
def test_condition_truth(source: str, expected: bool) -> None:
    assert parse_condition(source).evaluate(EVENT, SNAPSHOT, NOW) is expected


def test_python_mode_records_evaluate_the_same() -> None:
    # Aware datetimes and enums, as `model_dump()` gives them, read like their JSON forms.
    event, profile = INTERACTION.model_dump(), PROFILE.model_dump()
    for source, expected in TRUTH:
        assert parse_condition(source).evaluate(event, profile, NOW) is expected, source


def test_missing_records_fail_every_test() -> None:
    assert parse_condition('event.type == "purchase.completed"').evaluate({}, {}, NOW) is False
    assert parse_condition('event.type != "purchase.completed"').evaluate({}, {}, NOW) is False
    assert parse_condition("not exists(profile.traits.vip)").evaluate({}, {}, NOW) is True


def test_fields_are_the_paths_read() -> None:
    condition = parse_condition('event.type == "a" and (profile.traits.vip == true or exists(profile.reachable))')
    assert condition.fields() == frozenset({"event.type", "profile.traits.vip", "profile.reachable"})


def test_conditions_are_values() -> None:
    source = 'event.type == "a"'
    assert parse_condition(source) == parse_condition(source)
    assert hash(parse_condition(source)) == hash(parse_condition(source))
    assert isinstance(parse_condition(source), Condition)
    with pytest.raises(FrozenInstanceError):
        parse_condition(source).source = "event.type == 'b'"  # type: ignore[misc]


def test_limits_are_inclusive() -> None:
    parse_condition("(" * 20 + 'event.type == "a"' + ")" * 20)
    parse_condition("not " * 20 + 'event.type == "a"')
    parse_condition("event.properties.n in [" + ", ".join(["1"] * 100) + "]")
    parse_condition("event.occurred_at within 366d")
    parse_condition("event.occurred_at within 527040m")
    parse_condition('event.type == "' + "a" * (MAX_LENGTH - 16) + '"')


ERRORS = [
    # syntax, with the position of the offending token (end of input: its length)
    ("", "syntax", 0),
    ("event.type ==", "syntax", 13),
    ('event.type = "a"', "syntax", 11),
    ('event.type == "a" and', "syntax", 21),
    ('(event.type == "a"', "syntax", 18),
    ('event.type == "a")', "syntax", 17),
    ('event.type == "a" AND event.channel == "web"', "syntax", 18),
    ("event.properties.x in []", "syntax", 23),
    ("event.properties.x in [1,]", "syntax", 25),
    ('event.type == "unterminated', "syntax", 14),
    (r'event.type == "a\n"', "syntax", 16),
    ('"a" == event.type', "syntax", 0),
    ("event.properties.x == 1e5", "syntax", 22),
    ('event.properties.x == "a" "b"', "syntax", 26),
    ("exists(event.type", "syntax", 17),
    ("exists event.type", "syntax", 7),
    # fields
    ('customer.email == "x"', "unknown_field", 0),
    ('event.id == "x"', "unknown_field", 0),
    ("event.properties == 1", "unknown_field", 0),
    ("profile.traits == 1", "unknown_field", 0),
    ('event.type == "a" and profile.email == "x"', "unknown_field", 22),
    ("profile.channel_consent.fax.granted == true", "unknown_field", 0),
    ("profile.channel_consent.push.at within 1d", "unknown_field", 0),
    ("profile.purposes.marketing == true", "unknown_field", 0),
    ('profile.personality.colour == "red"', "personality_not_allowed", 0),
    ("profile.personality.probability > 0.5", "personality_not_allowed", 0),
    ("profile.holdout == true", "personality_not_allowed", 0),
    ("exists(profile.personality)", "personality_not_allowed", 7),
    ('event.type == "a" or profile.holdout == false', "personality_not_allowed", 21),
    ("profile.engagement.push.opened > 0", "field_not_allowed", 0),
    ("profile.active_hours == 1", "field_not_allowed", 0),
    ('profile.reachable == "push"', "field_not_allowed", 0),
    ('profile.reachable not in ["push"]', "field_not_allowed", 0),
    ("event.type within 1d", "not_a_timestamp", 0),
    ("event.properties.n < true", "comparison", 19),
    ("event.properties.n >= null", "comparison", 19),
    ('profile.lifecycle_stage >= "qualified"', "ordering_on_text", 24),
    ('event.properties.currency < "USD"', "ordering_on_text", 26),
    # limits
    ('event.type == "' + "a" * MAX_LENGTH + '"', "too_long", MAX_LENGTH),
    ("(" * 21 + 'event.type == "a"' + ")" * 21, "too_deep", 20),
    ("not " * 21 + 'event.type == "a"', "too_deep", 80),
    ("event.properties.n in [" + ", ".join(["1"] * 101) + "]", "list_too_long", 323),
    # durations
    ("event.occurred_at within 24", "duration", 25),
    ("event.occurred_at within 24 h", "syntax", 28),
    ("event.occurred_at within 2w", "duration", 25),
    ("event.occurred_at within 367d", "duration", 25),
    ("event.occurred_at within 8785h", "duration", 25),
    ("event.occurred_at within 0h", "duration", 25),
    ("event.occurred_at within 1.5h", "duration", 25),
    ("event.occurred_at within -1h", "duration", 25),
    ('event.occurred_at within "24h"', "syntax", 25),
    # control characters
    ('event.type == "a\x00"', "control_character", 16),
    ('event.type == "a\u202e"', "control_character", 16),
]


@pytest.mark.parametrize(("source", "rule", "position"), ERRORS)
def test_refusals_name_the_rule_and_position(source: str, rule: str, position: int) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition(source)
    assert (caught.value.rule, caught.value.position) == (rule, position), caught.value.message
    if rule != "too_long":
        assert f"column {position + 1}" in caught.value.message
    assert str(caught.value) == caught.value.message


def test_messages_name_the_token_and_what_was_expected() -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition('event.type = "a"')
    assert caught.value.message == (
        "unexpected `=` at column 12 (compare with ==); expected `in`, `not`, `within` or an operator"
    )
    with pytest.raises(ConditionError) as caught:
        parse_condition('profile.personality.colour == "red"')
    assert caught.value.message.startswith("`profile.personality.colour` at column 1: personality steers tone")


def test_positions_on_later_lines_name_the_line() -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition('event.type == "a"\nand event.id == 1')
    assert (caught.value.rule, caught.value.position) == ("unknown_field", 22)
    assert "line 2, column 5" in caught.value.message


@pytest.mark.parametrize(
    "source",
    [
        "event." + "a" * 1900 + " == 1",
        "b" * 1900,
        'event.type == "' + "c" * 1900,
        'event.type == "a" "' + "d" * 1900 + '"',
        "event.occurred_at within " + "9" * 1900 + "d",
        "event.properties.n in [" + ", ".join(["1" * 14] * 101) + "]",
    ],
)
def test_messages_echo_at_most_40_characters(source: str) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition(source)
    message = caught.value.message
    assert not any(source[start : start + 41] in message for start in range(len(source) - 40))


INJECTIONS = [
    "__import__('os').system('true')",
    "event.__class__",
    "event.__class__ == 1",
    "event.properties.__dict__ == 1",
    "event.properties.__class__.__bases__ == 1",
    "exists(event.properties.__globals__)",
    'eval("1")',
    "exec('import os')",
    "lambda: 1",
    "1; drop table",
    'event.type == "a"; drop table routes',
    'event.type == "a" or 1==1 --',
    'event.type == "a" or "1" == "1"',
    "' OR '1'='1",
    "${jndi:ldap://example.org/a}",
    "{{ 7 * 7 }}",
    "event.type == event.channel",
    "event.type.upper() == 'A'",
    "event.properties['amount'] == 1",
    "(" * 900 + 'event.type == "a"' + ")" * 900,
    "(" * MAX_LENGTH,
    "not " * 400 + 'event.type == "a"',
    r'event.type == "\x41"',
    r'event.type == "\u0041"',
    r'event.type == "a\"',
    'event.type == "a" \\\n or event.channel == "web"',
    "\u0435vent.type == 'a'",  # Cyrillic e
    "event.typ\u0435 == 'a'",  # Cyrillic e in the field
    "event.type == 'a' \u043er event.channel == 'web'",  # Cyrillic o
    "event.type \uff1d\uff1d 'a'",  # fullwidth equals
    "event.type == \u201ca\u201d",  # typographic quotes
    "event.type\u00a0== 'a'",  # no-break space
    "event.type\x00 == 'a'",
    "event.type == 'a' \x00or 1",
    "\ufeffevent.type == 'a'",
]


@pytest.mark.parametrize("source", INJECTIONS)
def test_injection_attempts_are_refused(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object) -> None:
        raise AssertionError("a condition ran code")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, forbidden)
    monkeypatch.setattr(os, "system", forbidden)
    with pytest.raises(ConditionError):
        parse_condition(source)


def test_dunder_segments_are_unknown_fields() -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition("event.properties.__dict__ == 1")
    assert caught.value.rule == "unknown_field"


def test_code_in_a_string_literal_is_only_data() -> None:
    condition = parse_condition('event.type == "{0.__class__}" or event.type == \'__import__("os")\'')
    assert condition.evaluate(EVENT, SNAPSHOT, NOW) is False
    assert condition.evaluate({"type": "{0.__class__}"}, {}, NOW) is True


# Property tests.

_TOKENS = [
    *"event.type event.properties.amount profile.traits.vip profile.holdout event.__class__ x.y == != < >= = in not"
    " and or exists within ( ) [ ] , \"a\" 'b' 1 -2.5 true null 24h 400d 0s é".split(),
    '"',
    "\\",
    "\n",
    "\x00",
]


@given(st.text(max_size=200) | st.lists(st.sampled_from(_TOKENS), max_size=30).map(" ".join))
def test_parsing_returns_a_condition_or_a_condition_error(source: str) -> None:
    outcome: Condition | ConditionError
    try:
        outcome = parse_condition(source)
    except ConditionError as error:
        outcome = error
    if isinstance(outcome, ConditionError):
        assert outcome.rule
        assert outcome.message
        assert outcome.position is None or 0 <= outcome.position <= len(source)
    else:
        assert outcome.source == source


_KEYS = st.sampled_from(
    "type channel occurred_at properties amount cart sku traits vip orders last_purchase_at channel_consent push"
    " granted purposes marketing reachable x".split()
)
_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))])
_MOMENTS = st.datetimes(timezones=_ZONES | st.none())
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | _MOMENTS.map(datetime.isoformat)
    | _MOMENTS
)
_JSON: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS | st.text(max_size=4), inner, max_size=4),
    max_leaves=25,
)
_RECORDS = st.dictionaries(_KEYS, _JSON, max_size=6)
_FIXED = [source for source, _ in TRUTH] + [
    "event.properties.cart.sku in ['A-1', 1, 2.5, true, null] or event.properties.amount >= -1.5",
    "profile.traits.orders > 10 and profile.traits.last_purchase_at within 1s",
    "exists(profile.channel_consent.push.granted) and not exists(profile.purposes.marketing.granted)",
]


@given(event=_RECORDS, profile=_RECORDS, now=st.datetimes(timezones=_ZONES))
def test_evaluation_never_raises(event: dict[str, Any], profile: dict[str, Any], now: datetime) -> None:
    for source in _FIXED:
        assert parse_condition(source).evaluate(event, profile, now) in (True, False)


_PATHS = ["event.type", "event.properties.amount", "event.properties.cart.sku", "profile.traits.orders"]
_LITERALS = (
    st.none()
    | st.booleans()
    | st.integers(-1000, 1000)
    | st.floats(-1000, 1000, allow_nan=False).map(lambda number: round(number, 3))
    | st.text(st.characters(exclude_categories=["Cc", "Cf", "Cs"]), max_size=8)
)


def _render(literal: Any) -> str:
    if literal is None or isinstance(literal, bool):
        return {None: "null", True: "true", False: "false"}[literal]
    if isinstance(literal, str):
        return '"' + literal.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{literal:.3f}" if isinstance(literal, float) else str(literal)


def _record(path: str, value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    root, *keys = path.split(".")
    record: dict[str, Any] = {keys[-1]: value}
    for key in reversed(keys[:-1]):
        record = {key: record}
    return (record, {}) if root == "event" else ({}, record)


@given(
    path=st.sampled_from(_PATHS),
    op=st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
    literal=_LITERALS,
    value=_LITERALS | _JSON,
    present=st.booleans(),
)
def test_not_negates_a_comparison(path: str, op: str, literal: Any, value: Any, present: bool) -> None:
    if literal is None or isinstance(literal, bool | str):
        op = op if op in ("==", "!=") else "=="
    comparison = f"{path} {op} {_render(literal)}"
    event, profile = _record(path, value) if present else ({}, {})
    holds = parse_condition(comparison).evaluate(event, profile, NOW)
    assert parse_condition(f"not ({comparison})").evaluate(event, profile, NOW) is (not holds)


@given(path=st.sampled_from(_PATHS), literal=_LITERALS)
def test_a_literal_equals_the_value_it_spells(path: str, literal: Any) -> None:
    event, profile = _record(path, literal)
    assert parse_condition(f"{path} == {_render(literal)}").evaluate(event, profile, NOW) is True
    assert parse_condition(f"{path} in [{_render(literal)}]").evaluate(event, profile, NOW) is True
