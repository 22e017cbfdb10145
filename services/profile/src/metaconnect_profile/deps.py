"""The profile service's typed state and the dependency aliases its endpoints use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from metaconnect_common.stage import StageState
from metaconnect_common.state import state_dependency
from metaconnect_profile.lifecycles.service import LifecycleCatalog, LifecycleService
from metaconnect_profile.profiles.state import ProfilePolicy


@dataclass(frozen=True, kw_only=True)
class ProfileState(StageState):
    policy: ProfilePolicy
    lifecycles: LifecycleService
    catalog: LifecycleCatalog


StateDep = Annotated[ProfileState, Depends(state_dependency(ProfileState))]


def _policy(state: StateDep) -> ProfilePolicy:
    return state.policy


def _lifecycles(state: StateDep) -> LifecycleService:
    return state.lifecycles


def _catalog(state: StateDep) -> LifecycleCatalog:
    return state.catalog


PolicyDep = Annotated[ProfilePolicy, Depends(_policy)]
LifecycleServiceDep = Annotated[LifecycleService, Depends(_lifecycles)]
CatalogDep = Annotated[LifecycleCatalog, Depends(_catalog)]
