"""The profile service's typed state and the dependency aliases its endpoints use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.outbox import OutboxRelay
from metaconnect_common.stage import StageState
from metaconnect_common.state import state_of
from metaconnect_profile.profiles.state import ProfilePolicy


@dataclass(frozen=True, kw_only=True)
class ProfileState(StageState):
    policy: ProfilePolicy


def _state(request: Request) -> ProfileState:
    return state_of(request.app, ProfileState)


StateDep = Annotated[ProfileState, Depends(_state)]


def _sessions(state: StateDep) -> async_sessionmaker[AsyncSession]:
    return state.sessions


async def _session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """One read transaction per request."""
    async with unit_of_work(state.sessions) as session:
        yield session


def _policy(state: StateDep) -> ProfilePolicy:
    return state.policy


def _relay(state: StateDep) -> OutboxRelay:
    return state.relay


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
SessionDep = Annotated[AsyncSession, Depends(_session)]
PolicyDep = Annotated[ProfilePolicy, Depends(_policy)]
RelayDep = Annotated[OutboxRelay, Depends(_relay)]
