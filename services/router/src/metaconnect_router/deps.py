"""The router's typed state and the dependency aliases its endpoints use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from metaconnect_common.stage import StageState
from metaconnect_common.state import state_dependency
from metaconnect_router.bundles.flusher import Flusher
from metaconnect_router.decisions.service import DecisionService
from metaconnect_router.journeys.service import JourneyService
from metaconnect_router.journeys.timers import JourneyTimers
from metaconnect_router.routes.service import RouteService


@dataclass(frozen=True, kw_only=True)
class RouterState(StageState):
    decisions: DecisionService
    routes: RouteService
    journeys: JourneyService
    flusher: Flusher
    timers: JourneyTimers


StateDep = Annotated[RouterState, Depends(state_dependency(RouterState))]


def _decisions(state: StateDep) -> DecisionService:
    return state.decisions


def route_service(state: StateDep) -> RouteService:
    return state.routes


def journey_service(state: StateDep) -> JourneyService:
    return state.journeys


DecisionServiceDep = Annotated[DecisionService, Depends(_decisions)]
JourneyServiceDep = Annotated[JourneyService, Depends(journey_service)]
