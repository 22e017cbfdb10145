"""What the progress report and the Lifecycle page ask of the services."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from metaconnect_console.api import Refused, Services
from metaconnect_console.auth.service import Person
from metaconnect_console.journeys.service import journey_path, walks_of
from metaconnect_console.progress.report import ProgressReport, progress_report


async def stage_history(services: Services, person: Person, customer_id: uuid.UUID) -> list[dict[str, Any]]:
    """The customer's stage changes, oldest first."""
    changes: list[dict[str, Any]] = await services.get(person, "profile", f"/v1/profiles/{customer_id}/stages")
    return changes


async def _spec(services: Services, person: Person, name: str, version: int) -> dict[str, Any] | None:
    """The spec of the version a walk runs on (the current one, or an older from the history);
    None when the journey was deleted."""
    try:
        journey = await services.get(person, "router", journey_path(name))
        if journey["version"] != version:
            older = await services.get(person, "router", f"{journey_path(name)}/versions")
            journey = next((v for v in older if v["version"] == version), journey)
    except Refused as refused:
        if refused.status == 404:
            return None
        raise
    spec: dict[str, Any] = journey["spec"]
    return spec


async def progress(
    services: Services,
    person: Person,
    profile: Mapping[str, Any],
    *,
    walks: Sequence[Mapping[str, Any]] | None = None,
    now: datetime | None = None,
) -> ProgressReport:
    """The customer's progress report; `walks` when the caller already has them."""
    customer_id = uuid.UUID(str(profile["id"]))
    if walks is None:
        walks = await walks_of(services, person, customer_id)
    changes = await stage_history(services, person, customer_id)
    running = sorted({(str(w["journey"]), int(w["version"])) for w in walks if w.get("status") == "active"})
    specs = await asyncio.gather(*(_spec(services, person, name, version) for name, version in running))
    by_version = dict(zip(running, specs, strict=True))
    return progress_report(profile, changes, walks, by_version, now or datetime.now(UTC))


async def lifecycle(services: Services, person: Person) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The current lifecycle (None: none stored yet) and its versions, newest first."""
    try:
        current, versions = await asyncio.gather(
            services.get(person, "profile", "/v1/lifecycle"), services.get(person, "profile", "/v1/lifecycle/versions")
        )
    except Refused as refused:
        if refused.status == 404:
            return None, []
        raise
    return current, versions
