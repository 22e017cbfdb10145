"""The router's simulated decision, as a person reads it (pure).

The router explains a decision in codes and scores (`docs/router.md`, `decide.py`); this says
the same in sentences: what would go out, then why, step by step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

REASONS: Final = {
    "erased": "the customer was erased",
    "expired": "the message expired before it could go",
    "no_consent": "the customer has not consented to it",
    "unreachable": "the customer has no address on its channels",
    "no_channel": "none of its channels is left",
    "cap_reached": "a frequency cap is reached",
    "quiet_hours": "it is quiet hours for the customer",
    "collapsed": "a newer message with the same collapse key replaces it",
}
VERDICTS: Final = {"send": "may go now", "defer": "would wait", "drop": "would not go"}
TONE_RULES: Final = {
    "prior": "The tone is the one written for the customer's colour: with no engagement seen yet, "
    "the personality decided.",
    "greedy": "The tone has the best expected engagement for customers of this personality pattern.",
    "thompson": "The tone was explored: it drew the highest score from what the router has learnt so far "
    "(Thompson sampling), so the router keeps learning.",
    "uniform": "The tone was picked at random, so every tone keeps a chance and the router keeps learning.",
    "holdout": "The neutral tone, by priority alone: nothing is personalised for a holdout customer.",
}
CHANNEL_REASONS: Final = {
    "only_channel": "it is the only channel the customer can get it on",
    "holdout_default": "holdout customers get the route's first channel",
    "transactional": "transactional messages go on the first channel that reaches the customer",
    "in_app_active": "the customer is in the app now",
    "default_order": "the route's channel order puts it first",
    "affinity": "the customer engages most on it",
}


@dataclass(frozen=True)
class ToneOption:
    key: str
    tone: str
    score: float
    chance: float | None
    chosen: bool


@dataclass(frozen=True)
class Explained:
    headline: str
    steps: list[str]
    options: list[ToneOption]


def _version(version: Any) -> str:
    # The router numbers a route the simulation was handed (a draft, or one treated as active) 0.
    return f"version {version}" if version else "as if active"


def explain(outcome: Mapping[str, Any]) -> Explained:
    why: Mapping[str, Any] = outcome.get("explanation") or {}
    chosen: Mapping[str, Any] = why.get("chosen") or {}
    channel: Mapping[str, Any] = why.get("channel") or {}
    result = outcome.get("outcome")
    if result == "chosen":
        channels = list(outcome.get("channels") or [])
        headline = (
            f"Message “{outcome.get('message_id')}” of route “{outcome.get('route')}” would go out "
            f"in the {outcome.get('tone')} tone on {channels[0] if channels else 'no channel'}"
        )
        if outcome.get("not_before"):
            headline += f", not before {outcome['not_before']}"
        headline += "."
    elif result == "dropped":
        headline = "Routes matched the event, but no message would go out."
    else:
        headline = "No active route takes this event: nothing would go out."

    personality = why.get("personality") or {}
    pattern = personality.get("pattern") or "unknown"
    known = (
        "The customer's personality is not known yet."
        if pattern == "unknown"
        else f"The customer's personality pattern is {pattern} (probability {personality.get('probability', 0)})."
    )
    steps = [f"The event is “{why.get('event_type')}”. {known}"]
    matched = [f"“{m.get('route')}” ({_version(m.get('version'))})" for m in why.get("matched", [])]
    steps.append(
        f"Routes whose trigger and condition matched: {', '.join(matched)}." if matched else "No route matched."
    )
    for c in why.get("candidates", []):
        verdict = VERDICTS.get(str(c.get("verdict")), str(c.get("verdict")))
        sentence = f"Message “{c.get('message')}” (priority {c.get('priority')}) {verdict}"
        if c.get("channels"):
            sentence += f" on {', '.join(c['channels'])}"
        if c.get("reasons"):
            sentence += ": " + "; ".join(REASONS.get(r, r) for r in c["reasons"])
        steps.append(sentence + ".")
    if outcome.get("holdout") and chosen.get("rule") != "holdout":
        steps.append("The customer is in a holdout: nothing is personalised, the neutral tone goes.")
    if chosen.get("rule") or chosen.get("why"):
        steps.append(TONE_RULES.get(str(chosen.get("rule")), f"The tone: {chosen.get('why')}."))
    if channel.get("chosen"):
        reason = CHANNEL_REASONS.get(str(channel.get("reason")), str(channel.get("reason") or "its score"))
        steps.append(f"The channel is {channel['chosen']}: {reason}.")
        if channel.get("inbox_copy"):
            steps.append("A copy goes to the customer's in-app inbox.")

    chances = {p.get("key"): p.get("p") for p in why.get("propensities", [])}
    picked = f"{chosen.get('route')}/{chosen.get('message')}/{chosen.get('tone')}"
    options = [
        ToneOption(
            key=str(o.get("key")),
            tone=str(o.get("key", "")).rsplit("/", 1)[-1],
            score=float(o.get("score", 0.0)),
            chance=chances.get(o.get("key")),
            chosen=o.get("key") == picked,
        )
        for o in why.get("options", [])
    ]
    return Explained(headline=headline, steps=steps, options=options)
