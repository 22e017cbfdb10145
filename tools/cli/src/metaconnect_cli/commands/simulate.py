"""`metaconnect simulate`: what the router would decide for a real customer, as their profile is now."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from metaconnect_cli import routes_code
from metaconnect_cli.client import (
    ApiProblem,
    ProfileClient,
    RouterClient,
    resolve_operator_token,
    resolve_profile_url,
    resolve_router_url,
)
from metaconnect_cli.commands.common import JsonOption, TokenOption, fail
from metaconnect_cli.simulate import ProfileUnreadable, SimulationInputError, describe, event_of, snapshot_of


def _event_text(event: str) -> str:
    if not event.startswith("@"):
        return event
    try:
        return Path(event[1:]).read_text()
    except OSError as exc:
        fail(f"--event {event}: {exc.strerror or exc}", code=2)


def _draft_route(path: Path | None) -> routes_code.RouteFile | None:
    if path is None:
        return None
    try:
        found = routes_code.load(path)
    except routes_code.RouteFileError as exc:
        fail(exc, code=2)
    if len(found) != 1 or path.is_dir():
        fail(f"--route {path}: one route file holding one route, not {len(found)}", code=2)
    return found[0]


def simulate(
    customer: Annotated[
        str, typer.Option(help="The customer: profile id or kind:value (cid:c-1042, email:ada@example.com, ...).")
    ],
    event: Annotated[
        str,
        typer.Option(help='The event as JSON ({"type": "cart.abandoned", "channel": "web", ...}) or @file.json.'),
    ],
    route: Annotated[
        Path | None, typer.Option(help="A route file to decide with as if it were active (a draft, say).")
    ] = None,
    profile_url: Annotated[
        str | None, typer.Option(help="Profile service URL (default: MC_PROFILE_URL, the dev stack, :8002).")
    ] = None,
    router_url: Annotated[
        str | None, typer.Option(help="Router URL (default: MC_ROUTER_URL, the dev stack, :8003).")
    ] = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Simulate the router's decision on an event for a customer's current profile; sends nothing.

    Exit code 1 when the customer is unknown or a service fails, 2 for an unusable event or route file.
    """
    text = _event_text(event)
    draft = _draft_route(route)
    operator = resolve_operator_token(token)
    profiles = ProfileClient(resolve_profile_url(profile_url), operator, url_flag="--profile-url")
    router = RouterClient(resolve_router_url(router_url), operator, url_flag="--router-url")
    try:
        with profiles, router:
            profile = profiles.get_profile(customer)
            if profile is None:
                fail(f"no customer {customer} (the profile service knows no profile by that ref)")
            customer_id = uuid.UUID(profile["id"])
            body: dict[str, Any] = {
                "event": event_of(text, customer_id, datetime.now(UTC)).model_dump(mode="json"),
                "profile": snapshot_of(profile).model_dump(mode="json"),
                "customer_id": str(customer_id),
                "route": draft.spec if draft else None,
            }
            outcome = router.simulate(body)
    except SimulationInputError as exc:
        fail(exc, code=2)
    except ProfileUnreadable as exc:
        fail(exc)
    except ApiProblem as problem:
        in_route = [e for e in problem.body.errors if e.field.startswith("route.")]
        if draft is not None and problem.status == 422 and in_route:
            relative = [e.model_copy(update={"field": e.field.removeprefix("route.")}) for e in in_route]
            for line in routes_code.error_lines(draft, relative):
                typer.echo(line, err=True)
            fail(f"the router refused the route file: {len(relative)} error(s)", code=2)
        fail(problem)
    if as_json:
        typer.echo(json.dumps(outcome, indent=2))
        return
    for line in describe(outcome, customer_id=customer_id, ref=customer):
        typer.echo(line)
