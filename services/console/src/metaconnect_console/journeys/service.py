"""What the journey pages ask of the services: the router owns journeys, their walks and their
report; the profile service knows customers. Every call carries the person's operator token."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

from metaconnect_common.schemas.profiled import ProfileUnreadable, snapshot_of
from metaconnect_console.api import Refused, Services, ServiceUnavailable
from metaconnect_console.auth.service import Person
from metaconnect_console.customers.lookup import candidate_refs
from metaconnect_console.routes.service import CustomerNotFound

PAGE_SIZE: Final = 25  # each row asks for its report: a short page keeps the list quick
LIST_WINDOW: Final = timedelta(days=30)


def journey_path(name: str) -> str:
    return f"/v1/journeys/{quote(name, safe='')}"


async def put_journey(
    services: Services, person: Person, name: str, spec: Mapping[str, Any], *, version: int | str | None
) -> dict[str, Any]:
    """Write a new version, refused (412, `Refused`) when the journey is no longer at `version`."""
    headers = {"If-Match": f'"{version}"'} if version is not None else None
    written: dict[str, Any] = await services.json(
        person, "PUT", "router", journey_path(name), json=dict(spec), headers=headers
    )
    return written


@dataclass(frozen=True)
class JourneyRow:
    journey: Mapping[str, Any]
    entered: int | None  # None: the router had no report for it
    converted: int | None


@dataclass(frozen=True)
class JourneysPage:
    rows: list[JourneyRow]
    next_after: str | None


async def journeys_page(
    services: Services, person: Person, *, status: str | None, after: str | None, now: datetime | None = None
) -> JourneysPage:
    """A page of journeys in name order (the router's cursor: the last name), each with how many
    entered and converted in the last 30 days (one report per row, asked at once)."""
    listed = await services.get(person, "router", "/v1/journeys", status=status, after=after, limit=PAGE_SIZE + 1)
    shown = listed[:PAGE_SIZE]
    until = now or datetime.now(UTC)
    reports = await asyncio.gather(*(_counts(services, person, j["name"], until) for j in shown))
    rows = [JourneyRow(j, *counts) for j, counts in zip(shown, reports, strict=True)]
    return JourneysPage(rows, str(shown[-1]["name"]) if len(listed) > PAGE_SIZE else None)


async def _counts(services: Services, person: Person, name: str, until: datetime) -> tuple[int | None, int | None]:
    try:
        report = await journey_report(services, person, name, since=until - LIST_WINDOW, until=until)
    except Refused:
        return None, None
    return int(report["entered"]), int(report["converted"]["walks"])


async def journey_report(
    services: Services, person: Person, name: str, *, since: datetime, until: datetime
) -> dict[str, Any]:
    report: dict[str, Any] = await services.get(
        person,
        "router",
        f"/v1/reports/journeys/{quote(name, safe='')}",
        since=since.isoformat(),
        until=until.isoformat(),
    )
    return report


async def walks_of(services: Services, person: Person, customer_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every walk of the customer, newest first; none when the router has never seen them."""
    try:
        answer = await services.get(person, "router", f"/v1/customers/{customer_id}/journeys")
    except Refused as refused:
        if refused.status == 404:
            return []
        raise
    walks: list[dict[str, Any]] = answer["walks"]
    return walks


async def simulate(
    services: Services,
    person: Person,
    *,
    name: str,
    customer: str,
    entry: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """The path the customer a ref names would take through the journey's current version, as
    their profile is now; sends and stores nothing. Answers (outcome, profile).

    The customer is named as support names them anywhere: a ref, or a bare e-mail address,
    phone number, customer id (the customer search's reading of it)."""
    profile = await _profile(services, person, customer)
    try:
        snapshot = snapshot_of(profile)
    except ProfileUnreadable as exc:
        raise ServiceUnavailable("profile", str(exc)) from None
    body = {
        "name": name,
        "profile": snapshot.model_dump(mode="json"),
        "customer_id": profile["id"],
        "entry": dict(entry),
        "events": [dict(e) for e in events],
    }
    outcome: dict[str, Any] = await services.json(person, "POST", "router", "/v1/journeys/simulate", json=body)
    return outcome, profile


async def _profile(services: Services, person: Person, customer: str) -> dict[str, Any]:
    for ref in candidate_refs(customer) or [customer]:
        response = await services.call(person, "GET", "profile", f"/v1/profiles/{quote(ref, safe=':@+')}")
        if response.status_code == 404:
            continue
        if response.status_code >= 400:
            raise Refused(response.status_code, response.json())
        profile: dict[str, Any] = response.json()
        return profile
    raise CustomerNotFound("No customer has this identifier.", "customer_not_found")
