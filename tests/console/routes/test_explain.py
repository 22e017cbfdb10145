"""The simulated decision in sentences, and the routes list's pages (pure)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.routes.explain import explain
from metaconnect_console.routes.service import page_after

CHOSEN: dict[str, Any] = {
    "outcome": "chosen",
    "route": "price-drops",
    "message_id": "price-drops",
    "tone": "blue",
    "channels": ["email"],
    "not_before": None,
    "holdout": False,
    "explanation": {
        "event_type": "product.price_dropped",
        "matched": [{"route": "price-drops", "version": 1}],
        "personality": {"pattern": "strong-blue", "probability": 1.0},
        "candidates": [
            {
                "route": "price-drops",
                "message": "price-drops",
                "priority": 60,
                "verdict": "send",
                "reasons": [],
                "channels": ["email"],
            },
            {
                "route": "price-drops",
                "message": "sms-nudge",
                "priority": 40,
                "verdict": "drop",
                "reasons": ["no_consent", "quiet_hours"],
                "channels": [],
            },
        ],
        "holdout": False,
        "options": [
            {"key": "price-drops/price-drops/blue", "score": 0.039},
            {"key": "price-drops/price-drops/red", "score": 0.03},
        ],
        "scored_by": "posterior_mean",
        "propensities": [
            {"key": "price-drops/price-drops/blue", "p": 0.8},
            {"key": "price-drops/price-drops/red", "p": 0.05},
        ],
        "chosen": {
            "route": "price-drops",
            "version": 1,
            "message": "price-drops",
            "tone": "blue",
            "explored": False,
            "rule": "prior",
            "why": "the tone written for the customer's colour: no receipts yet, the personality prior decided",
            "propensity": 0.8,
        },
        "channel": {
            "chosen": "email",
            "reason": "only_channel",
            "inbox_copy": False,
            "ranked": [{"channel": "email", "score": 0.75}],
        },
    },
}


def test_a_chosen_message_is_said_in_sentences() -> None:
    explained = explain(CHOSEN)
    assert explained.headline == "Message “price-drops” of route “price-drops” would go out in the blue tone on email."
    assert explained.steps == [
        "The event is “product.price_dropped”. The customer's personality pattern is strong-blue (probability 1.0).",
        "Routes whose trigger and condition matched: “price-drops” (version 1).",
        "Message “price-drops” (priority 60) may go now on email.",
        "Message “sms-nudge” (priority 40) would not go: the customer has not consented to it; "
        "it is quiet hours for the customer.",
        "The tone is the one written for the customer's colour: with no engagement seen yet, the personality decided.",
        "The channel is email: it is the only channel the customer can get it on.",
    ]
    assert [(o.tone, o.chance, o.chosen) for o in explained.options] == [("blue", 0.8, True), ("red", 0.05, False)]


def test_no_match_says_nothing_would_go() -> None:
    explained = explain(
        {
            "outcome": "no_match",
            "explanation": {
                "event_type": "app.opened",
                "matched": [],
                "personality": {"pattern": "unknown", "probability": 0.0},
            },
        }
    )
    assert explained.headline == "No active route takes this event: nothing would go out."
    assert explained.steps == [
        "The event is “app.opened”. The customer's personality is not known yet.",
        "No route matched.",
    ]
    assert explained.options == []


@given(st.sets(st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True), max_size=40), st.integers(1, 7))
def test_pages_of_routes_hold_each_route_once_in_name_order(names: set[str], size: int) -> None:
    routes = [{"name": n} for n in sorted(names)]
    seen: list[str] = []
    after = None
    while True:
        shown, after = page_after(routes, after, size)
        assert len(shown) <= size
        seen += [str(r["name"]) for r in shown]
        if after is None:
            break
    assert seen == sorted(names)
