"""What the routes API answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from metaconnect_router.routes.spec import RouteSpec, RouteStatus


class RouteOut(BaseModel):
    """A route's current version."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    status: RouteStatus
    spec: RouteSpec
    author: str
    created_at: datetime
    updated_at: datetime
    deleted: bool = False


class RouteVersionOut(BaseModel):
    """One version in a route's history."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    status: RouteStatus
    change: str
    author: str
    created_at: datetime
    spec: RouteSpec


class RoutePlan(BaseModel):
    """What applying a spec would do, computed without writing (routes as code: `diff`)."""

    model_config = ConfigDict(frozen=True)

    name: str
    action: str  # create | update | none
    current_version: int | None
    current: RouteSpec | None
    proposed: RouteSpec
