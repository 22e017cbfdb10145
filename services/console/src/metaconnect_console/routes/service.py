"""What the route pages ask of the services: the router owns routes and decides, delivery renders
previews, the profile service knows customers. Every call carries the person's operator token."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

from metaconnect_common.schemas.profiled import ProfileUnreadable, snapshot_of
from metaconnect_console.api import Refused, Services, ServiceUnavailable
from metaconnect_console.auth.service import Person
from metaconnect_console.routes.form import CHANNELS, DEFAULT_LOCALE, TEXT_FIELDS, TONES

PAGE_SIZE: Final = 50
PREVIEW_BATCH: Final = 300  # the delivery service's cap per call
ACTIVITY_WINDOW: Final = timedelta(hours=24)


def route_path(name: str) -> str:
    return f"/v1/routes/{quote(name, safe='')}"


async def put_route(
    services: Services, person: Person, name: str, spec: Mapping[str, Any], *, version: int | str | None
) -> dict[str, Any]:
    """Write a new version of the route, refused (412, `Refused`) when it is no longer at `version`:
    someone else's change in between is never overwritten."""
    headers = {"If-Match": f'"{version}"'} if version is not None else None
    written: dict[str, Any] = await services.json(
        person, "PUT", "router", route_path(name), json=dict(spec), headers=headers
    )
    return written


@dataclass(frozen=True)
class RouteRow:
    route: Mapping[str, Any]
    decisions: int


@dataclass(frozen=True)
class RoutesPage:
    rows: list[RouteRow]
    next_after: str | None


def page_after(
    routes: Sequence[Mapping[str, Any]], after: str | None, size: int = PAGE_SIZE
) -> tuple[list[Mapping[str, Any]], str | None]:
    """One page of routes in name order after the name `after` (the name is the cursor), and the
    cursor of the next page: there is one when more than `size` routes follow."""
    rest = [r for r in routes if after is None or str(r["name"]) > after]
    shown = rest[:size]
    return shown, (str(shown[-1]["name"]) if len(rest) > size else None)


async def routes_page(
    services: Services, person: Person, *, status: str | None, after: str | None, now: datetime | None = None
) -> RoutesPage:
    # One more than a page: whether another page follows.
    routes = await services.get(person, "router", "/v1/routes", status=status, after=after, limit=PAGE_SIZE + 1)
    shown, next_after = page_after(sorted(routes, key=lambda r: r["name"]), after)
    until = now or datetime.now(UTC)
    report = await services.get(
        person,
        "router",
        "/v1/reports/decisions",
        since=(until - ACTIVITY_WINDOW).isoformat(),
        until=until.isoformat(),
        group_by="route",
    )
    decided = {row["group"]: int(row["decisions"]) for row in report["rows"]}
    return RoutesPage([RouteRow(r, decided.get(r["name"], 0)) for r in shown], next_after)


@dataclass
class PreviewCell:
    tone: str
    channel: str
    locale: str
    shown: Mapping[str, Any] | None = None
    missing: str | None = None


@dataclass
class MessagePreview:
    message_id: str
    cells: list[PreviewCell] = field(default_factory=list)


async def preview(
    services: Services, person: Person, spec: Mapping[str, Any], sample: Mapping[str, Any]
) -> list[MessagePreview]:
    """Every message's texts per tone, channel and locale, rendered by the delivery service as it
    would send them, with `sample` standing in for the event's data and the customer."""
    messages: list[MessagePreview] = []
    texts: list[tuple[PreviewCell, dict[str, Any]]] = []
    for raw in spec.get("messages") or []:
        message = raw if isinstance(raw, Mapping) else {}
        shown = MessagePreview(str(message.get("id") or "(no id)"))
        messages.append(shown)
        variants = message.get("variants")
        for tone, by_channel in variants.items() if isinstance(variants, Mapping) else ():
            for channel, by_locale in (by_channel or {}).items() if isinstance(by_channel, Mapping) else ():
                for locale, content in (by_locale or {}).items() if isinstance(by_locale, Mapping) else ():
                    cell = PreviewCell(str(tone), str(channel), str(locale))
                    shown.cells.append(cell)
                    if not isinstance(content, Mapping) or not str(content.get("body") or "").strip():
                        cell.missing = "No body yet."
                        continue
                    texts.append(
                        (
                            cell,
                            {
                                "tone": tone,
                                "channel": channel,
                                "locale": locale,
                                "content": {k: v for k, v in content.items() if k in (*TEXT_FIELDS, "fallback") and v},
                                "message": message,
                            },
                        )
                    )
    for shown in messages:
        shown.cells.sort(key=_reading_order)
    for start in range(0, len(texts), PREVIEW_BATCH):
        batch = texts[start : start + PREVIEW_BATCH]
        await _render(services, person, spec, sample, batch)
    return messages


def _reading_order(cell: PreviewCell) -> tuple[int, int, bool, str]:
    # Tones neutral first then by colour, channels mobile first, the default locale first.
    tone = TONES.index(cell.tone) if cell.tone in TONES else len(TONES)
    channel = CHANNELS.index(cell.channel) if cell.channel in CHANNELS else len(CHANNELS)
    return tone, channel, cell.locale != DEFAULT_LOCALE, cell.locale


async def _render(
    services: Services,
    person: Person,
    spec: Mapping[str, Any],
    sample: Mapping[str, Any],
    batch: list[tuple[PreviewCell, dict[str, Any]]],
) -> None:
    first = batch[0][1]["message"]
    body = {
        "route": str(spec.get("name") or "preview")[:63],
        "message_id": str(first.get("id") or "preview")[:63],
        "category": first.get("category") if first.get("category") in ("marketing", "transactional") else "marketing",
        "data": sample.get("data") or {},
        "customer": sample.get("customer") or {},
        "texts": [{k: v for k, v in text.items() if k != "message"} for _, text in batch],
    }
    try:
        answer = await services.json(person, "POST", "delivery", "/v1/preview", json=body)
    except ServiceUnavailable as down:
        # The route's page stays usable (edit, history, status) while the delivery service is away.
        for cell, _ in batch:
            cell.missing = f"No preview: the delivery service did not answer properly ({down.detail})."
        return
    except Refused as refused:
        # A text the delivery service cannot take at all (too long, a tone it does not know): say so
        # at each cell; the route's own check names the field when it is saved.
        for cell, _ in batch:
            cell.missing = f"Cannot preview: {_first_error(refused)}"
        return
    for (cell, _), shown in zip(batch, answer["previews"], strict=True):
        cell.shown = shown


def _first_error(refused: Refused) -> str:
    body = refused.body if isinstance(refused.body, dict) else {}
    errors = body.get("errors") or []
    if errors:
        return f"{errors[0].get('field')}: {errors[0].get('message')} ({errors[0].get('rule')})"
    return str(body.get("message") or refused.message)


class CustomerNotFound(Exception):
    """No customer by this ref (or the profile service refused the ref: its message says why)."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule


async def simulate(
    services: Services,
    person: Person,
    *,
    customer: str,
    event: Mapping[str, Any],
    route: Mapping[str, Any] | None,
    now: datetime | None = None,
) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """The router's decision on `event` for the customer a ref names, as their profile is now
    (and `route` as if it were active); sends and stores nothing. Answers (outcome, profile)."""
    response = await services.call(person, "GET", "profile", f"/v1/profiles/{quote(customer, safe=':@+')}")
    if response.status_code == 404:
        raise CustomerNotFound("No customer has this identifier.", "customer_not_found")
    if response.status_code >= 400:
        raise Refused(response.status_code, response.json())
    profile = response.json()
    try:
        snapshot = snapshot_of(profile)
    except ProfileUnreadable as exc:
        raise ServiceUnavailable("profile", str(exc)) from None
    moment = (now or datetime.now(UTC)).isoformat()
    interaction = {
        "event_id": str(uuid.uuid4()),
        "customer": {"metaconnect_id": profile["id"]},
        "occurred_at": moment,
        "received_at": moment,
        "source": "metaconnect-console",
        **event,
    }
    body: dict[str, Any] = {
        "event": interaction,
        "profile": snapshot.model_dump(mode="json"),
        "customer_id": profile["id"],
    }
    if route is not None:
        body["route"] = route
    outcome = await services.json(person, "POST", "router", "/v1/simulate", json=body)
    return outcome, profile
