"""`metaconnect simulate`: the router's decision for a real customer's current profile (pure parts).

The profile read API (`GET /v1/profiles/{ref}`) answers with what the profile service puts in
the snapshot on `mc.profiled.v1`: the same state, decayed to now, personality as routing sees
it. `snapshot_of` (in `metaconnect_common`, which the console uses too) turns one into the other;
the router's `POST /v1/simulate` decides on it with the live code and sends nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.profiled import ProfileUnreadable, snapshot_of

SOURCE: Final = "metaconnect-simulate"
__all__ = ["SOURCE", "ProfileUnreadable", "SimulationInputError", "describe", "event_of", "snapshot_of"]


class SimulationInputError(Exception):
    """An event the simulation cannot use, said in words."""


def event_of(text: str, customer_id: uuid.UUID, now: datetime) -> Interaction:
    """The interaction to decide on, from JSON as a channel app posts it to ingest (`type`,
    `channel`, `properties`, ...) or a whole `mc.interactions.v1` record. What ingest would add
    is filled in: the customer (by profile id), event id, times, source."""
    try:
        given = json.loads(text)
    except ValueError as exc:
        raise SimulationInputError(f"--event is not JSON: {exc}") from None
    if not isinstance(given, dict):
        raise SimulationInputError('--event is a JSON object, e.g. {"type": "cart.abandoned", "channel": "web"}')
    defaults = {
        "event_id": str(uuid.uuid4()),
        "customer": {"metaconnect_id": str(customer_id)},
        "occurred_at": now.isoformat(),
        "received_at": now.isoformat(),
        "source": SOURCE,
    }
    try:
        return Interaction.model_validate(defaults | given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in exc.errors())
        raise SimulationInputError(f"--event is not an interaction: {problems}") from None


def _version(version: int | None) -> str:
    return f"v{version}" if version else "(draft)"  # `--route` decides as version 0


def _yes(value: object) -> str:
    return "yes" if value else "no"


def describe(outcome: Mapping[str, Any], *, customer_id: uuid.UUID, ref: str) -> list[str]:
    """The router's answer, readably: what it chose, then why."""
    why: dict[str, Any] = outcome.get("explanation") or {}
    chosen: dict[str, Any] = why.get("chosen") or {}
    channel: dict[str, Any] = why.get("channel") or {}
    named = ref if ref == str(customer_id) else f"{ref} ({customer_id})"
    lines = [f"simulated for {named}: nothing was sent", f"outcome:   {outcome['outcome']}"]
    if outcome.get("route"):
        lines.append(f"route:     {outcome['route']} {_version(chosen.get('version'))}")
        lines.append(f"message:   {outcome['message_id']}")
        explored = ", explored" if chosen.get("explored") else ""
        chance = f", propensity {chosen['propensity']}" if chosen.get("propensity") is not None else ""
        lines.append(f"tone:      {outcome['tone']}{explored}{chance}")
        if chosen.get("why"):
            lines.append(f"           {chosen['why']}")
        reason = f" ({channel['reason']})" if channel.get("reason") else ""
        lines.append(f"channels:  {', '.join(outcome['channels'])}{reason}")
        if outcome.get("not_before"):
            lines.append(f"not before {outcome['not_before']}")
    lines.append(f"holdout:   {_yes(outcome.get('holdout'))}")
    lines.append("why:")
    personality = why.get("personality") or {}
    lines.append(
        f"  event {why.get('event_type')}; personality {personality.get('pattern')} "
        f"(probability {personality.get('probability')})"
    )
    matched = ", ".join(f"{m['route']} {_version(m['version'])}" for m in why.get("matched", []))
    lines.append(f"  matched routes: {matched or 'none'}")
    for c in why.get("candidates", []):
        reasons = f" because {', '.join(c['reasons'])}" if c.get("reasons") else ""
        channels = f" on {', '.join(c['channels'])}" if c.get("channels") else ""
        lines.append(
            f"  message {c['route']}/{c['message']} (priority {c['priority']}): {c['verdict']}{channels}{reasons}"
        )
    # An option's key is route/message/tone; its score is what the rule that chose weighed (priority x
    # the expected engagement, or x a sampled one for a Thompson draw), its chance how likely the
    # router was to choose it (its propensity).
    chances = {p["key"]: p["p"] for p in why.get("propensities", [])}
    picked = f"{chosen.get('route')}/{chosen.get('message')}/{chosen.get('tone')}"
    scored = "sampled score" if why.get("scored_by") == "draw" else "expected score"
    for option in why.get("options", []):
        chance = f", chance {chances[option['key']]}" if option["key"] in chances else ""
        mark = " <- chosen" if option["key"] == picked else ""
        lines.append(f"  option {option['key']}: {scored} {option['score']}{chance}{mark}")
    for ranked in channel.get("ranked", []):
        lines.append(f"  channel {ranked['channel']}: score {ranked['score']}")
    return lines
