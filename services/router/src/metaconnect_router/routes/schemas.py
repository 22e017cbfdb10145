"""What the routes API answers."""

from __future__ import annotations

from metaconnect_router.routes.spec import RouteSpec
from metaconnect_router.versioning import Answers, SpecOut, SpecPlan, SpecVersionOut


class RouteOut(SpecOut[RouteSpec]):
    """A route's current version."""


class RouteVersionOut(SpecVersionOut[RouteSpec]):
    """One version in a route's history."""


class RoutePlan(SpecPlan[RouteSpec]):
    """What applying a route would do, computed without writing (routes as code: `plan`, `diff`)."""


ROUTE_ANSWERS = Answers(spec=RouteSpec, out=RouteOut, version_out=RouteVersionOut, plan=RoutePlan)
