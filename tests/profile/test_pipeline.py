"""Smoke: an interaction on the real topic becomes a profile and a `mc.profiled.v1` record."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.profiled import Profiled
from tests.profile.conftest import applied, interaction, profiled_for


async def test_interaction_becomes_a_profiled_record(
    profile_client: httpx.AsyncClient,
    publish: Callable[[Interaction], Coroutine[Any, Any, None]],
    engine: AsyncEngine,
    kafka_bootstrap: str,
) -> None:
    event = interaction({"customer_id": "smoke-1", "email": "smoke@example.com"})
    await publish(event)
    customer_id = await applied(engine, event.event_id)
    [record] = await profiled_for(kafka_bootstrap, event.event_id)
    profiled = Profiled.model_validate(record)
    assert profiled.customer_id == customer_id
    assert profiled.profile is not None
    assert profiled.profile.lifecycle_stage == "lead"
    assert "email" in profiled.profile.reachable


async def test_in_app_is_reachable_only_once_the_customer_was_in_the_app(
    profile_client: httpx.AsyncClient,
    publish: Callable[[Interaction], Coroutine[Any, Any, None]],
    engine: AsyncEngine,
    kafka_bootstrap: str,
) -> None:
    # An e-mail address and a phone number, a sign-up reported by a backend and a visit on the web:
    # an inbox would reach nobody, so in-app is not reachable.
    lena = {"email": "lena@example.com", "phone": "+4917600000010"}
    events = [interaction(lena, "customer.created"), interaction(lena, "page.viewed", channel="web")]
    for event in events:
        await publish(event)
    await applied(engine, events[-1].event_id)
    [record] = await profiled_for(kafka_bootstrap, events[-1].event_id)
    snapshot = Profiled.model_validate(record).profile
    assert snapshot is not None
    assert sorted(snapshot.reachable) == ["email", "sms", "whatsapp"]

    opened = interaction(lena, "app.opened")  # now she is in the app
    await publish(opened)
    await applied(engine, opened.event_id)
    [record] = await profiled_for(kafka_bootstrap, opened.event_id)
    snapshot = Profiled.model_validate(record).profile
    assert snapshot is not None
    assert "in_app" in snapshot.reachable
