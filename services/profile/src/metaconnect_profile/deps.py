"""The profile service's typed state and the dependency aliases its endpoints use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from metaconnect_common.stage import StageState
from metaconnect_common.state import state_of
from metaconnect_profile.profiles.state import ProfilePolicy


@dataclass(frozen=True, kw_only=True)
class ProfileState(StageState):
    policy: ProfilePolicy


def _state(request: Request) -> ProfileState:
    return state_of(request.app, ProfileState)


StateDep = Annotated[ProfileState, Depends(_state)]


def _policy(state: StateDep) -> ProfilePolicy:
    return state.policy


PolicyDep = Annotated[ProfilePolicy, Depends(_policy)]
