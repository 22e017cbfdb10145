"""The personality estimate in plain words (pure), from `GET /v1/profiles/{ref}/personality`.

Support reads a colour, a pattern, how sure the model is and which evidence it rests on; the
derivation the API gives stays beside it, step by step, for whoever wants the numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

TRAITS: Final = {
    "red": "direct and results-focused",
    "yellow": "enthusiastic and social",
    "green": "steady and supportive",
    "blue": "precise and analytical",
}
UNKNOWN_REASONS: Final = {
    "no_questionnaire": "no questionnaire answered yet, and behaviour alone never names a colour",
    "below_threshold": "the evidence points to no colour clearly enough (60 % needed)",
}
PURPOSES: Final = {"profiling_questionnaire": "questionnaire", "profiling_behaviour": "behaviour"}


@dataclass(frozen=True)
class PlainPersonality:
    colour: str
    """`red`, `yellow`, `green`, `blue` or `unknown`: what the estimate derives (a CSS class too)."""
    headline: str
    certainty: str
    evidence: list[str]
    routing: str
    steps: list[str]
    chances: list[tuple[str, str]]
    """Each colour with its probability in per cent, most probable first."""


def _percent(p: float) -> str:
    return f"{round(p * 100)} %"


def _sureness(p: float) -> str:
    if p >= 0.9:
        return "very sure"
    if p >= 0.75:
        return "fairly sure"
    return "somewhat sure"


def _colour_name(value: Any) -> str:
    return value if isinstance(value, str) and value in TRAITS else "unknown"


def _evidence(summary: dict[str, Any]) -> list[str]:
    lines = []
    for weight in summary.get("questionnaire_weights") or []:
        lines.append(
            f"questionnaire {weight.get('instrument', '?')}, {round(float(weight.get('age_days', 0)))} days old, "
            f"counting {_percent(float(weight.get('weight', 0)))}"
        )
    behaviour = summary.get("behaviour") or {}
    engaged, ignored = int(behaviour.get("engaged", 0)), int(behaviour.get("ignored", 0))
    if engaged or ignored:
        line = f"behaviour: {engaged} message{'s' if engaged != 1 else ''} engaged with, {ignored} ignored"
        if behaviour.get("capped"):
            line += " (capped: behaviour never outweighs a questionnaire)"
        lines.append(line)
    return lines or ["no evidence yet"]


def _routing(routing: dict[str, Any], consent: dict[str, Any]) -> str:
    colour = _colour_name(routing.get("colour"))
    refused = [name for purpose, name in PURPOSES.items() if not (consent.get(purpose) or {}).get("granted")]
    if colour == "unknown":
        why = f" (no consent to profiling by {' or '.join(refused)})" if len(refused) == len(PURPOSES) else ""
        return f"Routing sees no colour{why}: messages go out in the neutral tone."
    pattern = str(routing.get("pattern", colour)).replace("-", " ")
    return f"Routing writes to this customer in the {colour} tone ({pattern})."


def plain_personality(answer: dict[str, Any]) -> PlainPersonality:
    """`answer` is the personality API's JSON; every field read defensively (a missing one reads as unknown)."""
    explanation = answer.get("explanation") or {}
    derivation = explanation.get("colour") or {}
    colour = _colour_name(derivation.get("colour"))
    chances = sorted(
        ((name, float(p)) for name, p in (derivation.get("quadrant_probabilities") or {}).items() if name in TRAITS),
        key=lambda c: -c[1],
    )
    if colour == "unknown":
        reason = UNKNOWN_REASONS.get(str(derivation.get("reason")), "too little evidence")
        headline = "Colour unknown"
        best = f"; most likely {chances[0][0]} at {_percent(chances[0][1])}" if chances and chances[0][1] > 0.25 else ""
        certainty = f"Not sure enough to name a colour: {reason}{best}."
    else:
        secondary = _colour_name(derivation.get("secondary"))
        headline = f"{colour.capitalize()}: {TRAITS[colour]}"
        if secondary != "unknown":
            headline += f", with a {secondary} side ({TRAITS[secondary]})"
        intensity = derivation.get("intensity")
        pattern = str(derivation.get("pattern", "")).replace("-", " ")
        headline += f". Pattern: {pattern}" + (f" ({intensity} leaning)" if intensity else "") + "."
        probability = float(derivation.get("probability") or 0.0)
        certainty = f"The model is {_sureness(probability)}: {_percent(probability)} that {colour} is right."
    return PlainPersonality(
        colour=colour,
        headline=headline,
        certainty=certainty,
        evidence=_evidence(explanation.get("evidence") or {}),
        routing=_routing(answer.get("routing") or {}, answer.get("profiling_consent") or {}),
        steps=[str(s) for s in explanation.get("derivation") or []],
        chances=[(name, _percent(p)) for name, p in chances],
    )
