"""What a service's lifespan opens, typed.

Each service declares one frozen dataclass deriving from `ServiceState` in its `deps.py`,
builds it in its lifespan and `install`s it on the app; endpoints reach it through the
`Annotated` dependency aliases of that `deps.py`, never through `app.state` directly:

    @dataclass(frozen=True, kw_only=True)
    class RouterState(StageState):
        decisions: DecisionService

    StateDep = Annotated[RouterState, Depends(state_dependency(RouterState))]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from fastapi import FastAPI, Request

from metaconnect_common.http import ReadinessCheck
from metaconnect_common.settings import AuthSettings

_ATTRIBUTE = "service"


@dataclass(frozen=True, kw_only=True)
class ServiceState:
    """The shared part: how operator tokens are verified, and what `/readyz` checks."""

    auth: AuthSettings

    def readiness(self) -> Mapping[str, ReadinessCheck]:
        """The checks `/readyz` runs; a service whose state has none is ready once started."""
        return {}


S = TypeVar("S", bound=ServiceState)


class NotStarted(RuntimeError):
    """The app's lifespan has not installed its state (yet)."""


def install(app: FastAPI, state: ServiceState) -> None:
    """Make `state` the app's state for its endpoints and checks (once per lifespan)."""
    setattr(app.state, _ATTRIBUTE, state)


def state_of(app: FastAPI, kind: type[S]) -> S:
    """The app's installed state; raises `NotStarted` before the lifespan installed it."""
    state = getattr(app.state, _ATTRIBUTE, None)
    if not isinstance(state, kind):
        raise NotStarted(f"no {kind.__name__} installed")
    return state


def state_dependency(kind: type[S]) -> Callable[[Request], S]:
    """A FastAPI dependency giving the app's installed state of type `kind`."""

    def dependency(request: Request) -> S:
        return state_of(request.app, kind)

    return dependency


service_state = state_dependency(ServiceState)
"""The state of whichever service serves, for the shared endpoints (auth)."""
