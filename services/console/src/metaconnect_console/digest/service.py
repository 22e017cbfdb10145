"""What the digest asks of the services: the profile service's funnel, the router's active journeys
with their reports and its uplift report; then the delivery service's notifications API sends it.
Every call carries an operator token (the admin's, or the console's own for scheduled sends)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import quote

from metaconnect_common.auth import Role
from metaconnect_console.api import Refused, Services, ServiceUnavailable
from metaconnect_console.auth.service import Person
from metaconnect_console.digest.cadence import Period, notification_id
from metaconnect_console.digest.compose import (
    Digest,
    JourneyLine,
    as_html,
    as_json,
    as_text,
    journey_line,
    stage_lines,
    subject,
    uplift_line,
)
from metaconnect_console.digest.form import DigestConfig

log = logging.getLogger(__name__)
MAX_JOURNEYS: Final = 100
"""A digest names at most this many journeys (in name order): it is a summary, not the report."""
PAGE: Final = 50
REPORTS_AT_ONCE: Final = 8
T = TypeVar("T")

SCHEDULER: Final = Person(
    subject="metaconnect-console/digest",
    email="",
    name="The digest schedule",
    role=Role.ADMIN,
    csrf_token="",
)
"""Who the scheduled sends call the services as (no one is signed in then)."""


class NotSent(Exception):
    """The delivery service refused or did not take the digest."""


@dataclass(frozen=True)
class Sent:
    """The notifications the delivery service accepted: (channel, id, status)."""

    notifications: Sequence[tuple[str, str, str]]


async def _or_missing(call: Awaitable[T], name: str, missing: list[str]) -> T | None:
    try:
        return await call
    except (Refused, ServiceUnavailable) as exc:
        log.warning("digest: the %s report is left out (%s)", name, type(exc).__name__)
        missing.append(name)
        return None


async def _active_journeys(services: Services, person: Person, period: Period) -> list[JourneyLine]:
    """Every active journey (the router's cursor: the last name), up to `MAX_JOURNEYS`, with its report."""
    names: list[str] = []
    after: str | None = None
    while len(names) < MAX_JOURNEYS:
        listed = await services.get(person, "router", "/v1/journeys", status="active", after=after, limit=PAGE)
        names += [str(j["name"]) for j in listed]
        if len(listed) < PAGE:
            break
        after = names[-1]
    names = names[:MAX_JOURNEYS]
    window = {"since": period.since.isoformat(), "until": period.until.isoformat()}
    at_once = asyncio.Semaphore(REPORTS_AT_ONCE)

    async def report(name: str) -> Any:
        async with at_once:
            return await services.get(person, "router", f"/v1/reports/journeys/{quote(name, safe='')}", **window)

    reports = await asyncio.gather(*(report(n) for n in names))
    return [journey_line(name, report) for name, report in zip(names, reports, strict=True)]


async def gather(services: Services, person: Person, period: Period, zone: str) -> Digest:
    """The period's digest; a report a service could not give is named in `missing`, never guessed."""
    window = {"since": period.since.isoformat(), "until": period.until.isoformat()}
    missing: list[str] = []
    funnel, journeys, uplift = await asyncio.gather(
        _or_missing(services.get(person, "profile", "/v1/reports/funnel", **window), "funnel", missing),
        _or_missing(_active_journeys(services, person, period), "journeys", missing),
        _or_missing(services.get(person, "router", "/v1/reports/uplift", **window), "uplift", missing),
    )
    return Digest(
        since=period.since,
        until=period.until,
        zone=zone,
        stages=stage_lines(funnel) if funnel else [],
        journeys=journeys or [],
        uplift=uplift_line(uplift) if uplift else None,
        missing=tuple(sorted(missing)),
    )


def requests(digest: Digest, config: DigestConfig, send_key: str) -> list[dict[str, Any]]:
    """The notifications of one send: an e-mail to the recipients, the webhook if asked for; each
    id derived from the send's key, so asking again is the same notification."""
    out: list[dict[str, Any]] = []
    if config.recipients:
        out.append(
            {
                "id": str(notification_id(send_key, "email")),
                "channel": "email",
                "to": list(config.recipients),
                "subject": subject(digest),
                "text": as_text(digest),
                "html": as_html(digest),
            }
        )
    if config.webhook:
        out.append(
            {
                "id": str(notification_id(send_key, "webhook")),
                "channel": "webhook",
                "subject": subject(digest),
                "text": as_text(digest),
                "data": as_json(digest),
            }
        )
    return out


async def send(services: Services, person: Person, digest: Digest, config: DigestConfig, send_key: str) -> Sent:
    """Hand the digest to the delivery service; `NotSent` when it refused or did not answer."""
    accepted = []
    for body in requests(digest, config, send_key):
        try:
            answer = await services.json(person, "POST", "delivery", "/v1/notifications", json=body)
        except Refused as exc:
            raise NotSent(f"the delivery service refused the {body['channel']} notification: {exc.message}") from None
        except ServiceUnavailable as exc:
            raise NotSent(f"the delivery service did not take it ({exc.detail})") from None
        accepted.append((str(body["channel"]), str(answer["id"]), str(answer["status"])))
    return Sent(accepted)
