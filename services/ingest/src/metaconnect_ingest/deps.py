"""Ingest's typed state and the dependency aliases its endpoints use."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.db import ping
from metaconnect_common.http import ReadinessCheck
from metaconnect_common.kafka.consumer import ConsumerRunner
from metaconnect_common.kafka.producer import KafkaPublisher
from metaconnect_common.state import ServiceState, state_dependency
from metaconnect_ingest.customers.service import InboxTokens
from metaconnect_ingest.events.service import EventService
from metaconnect_ingest.keys.service import KeyService
from metaconnect_ingest.webhooks.service import WebhookService


@dataclass(frozen=True, kw_only=True)
class IngestState(ServiceState):
    engine: AsyncEngine
    publisher: KafkaPublisher
    keys: KeyService
    events: EventService
    webhooks: WebhookService
    inbox_tokens: InboxTokens
    kafka_ready: asyncio.Task[None]
    """Creates or verifies the topic and starts the publisher, retrying while the broker is away."""
    customer_refs: ConsumerRunner
    """Reads `mc.customers.v1` into `customer_refs`, for the inbox tokens."""

    def readiness(self) -> Mapping[str, ReadinessCheck]:
        async def kafka() -> None:
            await self.publisher.ping()
            if not self.customer_refs.ready:
                raise RuntimeError("mc.customers.v1 consumer not running")

        async def database() -> None:
            await ping(self.engine)

        return {"kafka": kafka, "database": database}


ingest_state = state_dependency(IngestState)
"""The state, also for the hot path that reads the request itself instead of dependencies."""


StateDep = Annotated[IngestState, Depends(ingest_state)]


def _keys(state: StateDep) -> KeyService:
    return state.keys


def _events(state: StateDep) -> EventService:
    return state.events


def _webhooks(state: StateDep) -> WebhookService:
    return state.webhooks


def _inbox_tokens(state: StateDep) -> InboxTokens:
    return state.inbox_tokens


KeyServiceDep = Annotated[KeyService, Depends(_keys)]
EventServiceDep = Annotated[EventService, Depends(_events)]
WebhooksDep = Annotated[WebhookService, Depends(_webhooks)]
InboxTokensDep = Annotated[InboxTokens, Depends(_inbox_tokens)]
