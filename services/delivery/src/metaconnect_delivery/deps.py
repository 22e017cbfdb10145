"""The delivery service's typed state and the dependency aliases its endpoints use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.stage import StageState
from metaconnect_common.state import state_of
from metaconnect_delivery.inbox.feed import InboxFeed
from metaconnect_delivery.providers.service import ProviderAccounts
from metaconnect_delivery.service import DeliveryService


@dataclass(frozen=True, kw_only=True)
class DeliveryState(StageState):
    deliveries: DeliveryService
    providers: ProviderAccounts
    inbox_feed: InboxFeed


def _state(request: Request) -> DeliveryState:
    return state_of(request.app, DeliveryState)


StateDep = Annotated[DeliveryState, Depends(_state)]


def _sessions(state: StateDep) -> async_sessionmaker[AsyncSession]:
    return state.sessions


async def _session(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session:
        yield session


def _providers(state: StateDep) -> ProviderAccounts:
    return state.providers


def _feed(state: StateDep) -> InboxFeed:
    return state.inbox_feed


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
SessionDep = Annotated[AsyncSession, Depends(_session)]
"""A session for reading; writes go through a unit of work."""
ProvidersDep = Annotated[ProviderAccounts, Depends(_providers)]
InboxFeedDep = Annotated[InboxFeed, Depends(_feed)]
