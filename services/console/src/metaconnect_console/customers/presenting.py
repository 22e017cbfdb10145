"""Small pure pieces of the customer page: trace links, consent rows, provider answers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

_TRACE_ID: Final = re.compile(r"^[0-9a-f]{32}$")
PURPOSE_NAMES: Final = {
    "marketing": "Marketing",
    "profiling_questionnaire": "Profiling by questionnaire",
    "profiling_behaviour": "Profiling by behaviour",
}


def trace_url(template: str | None, trace_id: object) -> str | None:
    """The item's trace in the tracing UI (`MC_CONSOLE_TRACE_URL_TEMPLATE`), or None: no template, or
    no well-formed W3C trace id (32 lower-case hex digits), so nothing else is put in a link."""
    if not template or not isinstance(trace_id, str) or not _TRACE_ID.match(trace_id):
        return None
    return template.replace("{trace_id}", quote(trace_id, safe=""))


@dataclass(frozen=True)
class ConsentRow:
    what: str
    granted: bool | None
    at: str | None
    source: str | None


def consent_rows(consent: dict[str, Any]) -> list[ConsentRow]:
    """One row per purpose, then per channel (marketing as it counts there), each with its time and source;
    a purpose nobody decided on reads as not granted, with no time."""
    rows = []
    purposes = consent.get("purposes") or {}
    for purpose, name in PURPOSE_NAMES.items():
        rows.append(_row(name, purposes.get(purpose)))
    for channel, state in sorted((consent.get("channels") or {}).items()):
        rows.append(_row(f"Marketing on {channel.replace('_', '-')}", state))
    return rows


def _row(what: str, state: Any) -> ConsentRow:
    if not isinstance(state, dict):
        return ConsentRow(what=what, granted=None, at=None, source=None)
    return ConsentRow(what=what, granted=bool(state.get("granted")), at=state.get("at"), source=state.get("source"))


def compact_json(value: Any) -> str:
    """A provider's answer or an explanation as one readable line of JSON (autoescaped by the template)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def decision_lines(explanation: dict[str, Any]) -> list[str]:
    """The router's explanation of a decision, one line per step: matched routes, each candidate's
    verdict and reasons, the tone and why, every option's score and chance, the channel and why."""
    lines = []
    personality = explanation.get("personality") or {}
    lines.append(
        f"event {explanation.get('event_type')}; personality {personality.get('pattern', 'unknown')} "
        f"(probability {personality.get('probability', 0)})"
    )
    matched = ", ".join(f"{m.get('route')} v{m.get('version')}" for m in explanation.get("matched") or [])
    lines.append(f"matched routes: {matched or 'none'}")
    for c in explanation.get("candidates") or []:
        channels = f" on {', '.join(c.get('channels') or [])}" if c.get("channels") else ""
        reasons = f" because {', '.join(c.get('reasons') or [])}" if c.get("reasons") else ""
        lines.append(
            f"message {c.get('route')}/{c.get('message')} (priority {c.get('priority')}): "
            f"{c.get('verdict')}{channels}{reasons}"
        )
    chosen = explanation.get("chosen") or {}
    if chosen:
        explored = ", explored" if chosen.get("explored") else ""
        lines.append(
            f"tone {chosen.get('tone')} ({chosen.get('rule')}{explored}, propensity {chosen.get('propensity')}): "
            f"{chosen.get('why', '')}".rstrip(": ")
        )
    chances = {p.get("key"): p.get("p") for p in explanation.get("propensities") or []}
    scored = "sampled score" if explanation.get("scored_by") == "draw" else "expected score"
    for option in explanation.get("options") or []:
        chance = f", chance {chances[option.get('key')]}" if option.get("key") in chances else ""
        lines.append(f"option {option.get('key')}: {scored} {option.get('score')}{chance}")
    channel = explanation.get("channel") or {}
    if channel:
        reason = f" ({channel['reason']})" if channel.get("reason") else ""
        lines.append(f"channel {channel.get('chosen')}{reason}")
    if explanation.get("holdout"):
        lines.append("holdout: neutral tone and the policy's first channel, by priority alone")
    return lines
