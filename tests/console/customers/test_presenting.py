"""Trace links, consent rows and the decision's reasons (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.customers.presenting import ConsentRow, consent_rows, decision_lines, trace_url

TEMPLATE = "http://jaeger:16686/trace/{trace_id}"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_trace_link_fills_the_template_with_a_well_formed_trace_id_only() -> None:
    assert trace_url(TEMPLATE, TRACE) == f"http://jaeger:16686/trace/{TRACE}"
    assert trace_url(None, TRACE) is None
    assert trace_url(TEMPLATE, None) is None
    assert trace_url(TEMPLATE, "javascript:alert(1)") is None


@given(st.text(max_size=64))
def test_nothing_but_a_trace_id_reaches_a_link(text: str) -> None:
    url = trace_url(TEMPLATE, text)
    assert url is None or (url == TEMPLATE.replace("{trace_id}", text) and text.isalnum())


def test_consent_lists_every_purpose_then_each_channel_with_time_and_source() -> None:
    rows = consent_rows(
        {
            "purposes": {"marketing": {"granted": True, "at": "2026-12-01T10:00:00Z", "source": "key_app"}},
            "channels": {"in_app": {"granted": False, "at": "2026-12-02T10:00:00Z", "source": "support"}},
            "objection": None,
        }
    )
    assert rows == [
        ConsentRow("Marketing", True, "2026-12-01T10:00:00Z", "key_app"),
        ConsentRow("Profiling by questionnaire", None, None, None),
        ConsentRow("Profiling by behaviour", None, None, None),
        ConsentRow("Marketing on in-app", False, "2026-12-02T10:00:00Z", "support"),
    ]


def test_a_decision_reads_as_its_steps() -> None:
    lines = decision_lines(
        {
            "event_type": "order.placed",
            "matched": [{"route": "order-confirmation", "version": 1}],
            "personality": {"pattern": "unknown", "probability": 0.0},
            "candidates": [
                {
                    "route": "order-confirmation",
                    "message": "order-confirmation",
                    "priority": 100,
                    "verdict": "send",
                    "reasons": [],
                    "channels": ["push", "email"],
                }
            ],
            "holdout": False,
            "options": [{"key": "order-confirmation/order-confirmation/neutral", "score": 0.05}],
            "scored_by": "posterior_mean",
            "propensities": [{"key": "order-confirmation/order-confirmation/neutral", "p": 1.0}],
            "chosen": {"tone": "neutral", "rule": "greedy", "explored": False, "propensity": 1.0, "why": "best"},
            "channel": {"chosen": "push", "reason": "mobile_first"},
        }
    )
    assert lines == [
        "event order.placed; personality unknown (probability 0.0)",
        "matched routes: order-confirmation v1",
        "message order-confirmation/order-confirmation (priority 100): send on push, email",
        "tone neutral (greedy, propensity 1.0): best",
        "option order-confirmation/order-confirmation/neutral: expected score 0.05, chance 1.0",
        "channel push (mobile_first)",
    ]
    assert decision_lines({"event_type": "x.y"})[1] == "matched routes: none"
