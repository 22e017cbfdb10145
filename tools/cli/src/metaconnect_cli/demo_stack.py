"""The running stack `metaconnect demo traffic` talks to: where it is, and its HTTP calls."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import httpx

from metaconnect_cli.client import load_state
from metaconnect_router.routes.spec import RouteSpec

BATCH_MAX: Final = 500
POST_ATTEMPTS: Final = 5


class DemoError(Exception):
    """The demo cannot go on; `exit_code` 2 means it was not told where the stack is."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Target:
    """Where the running stack is, and the credentials the demo uses (each field has its `--flag`)."""

    ingest_url: str
    profile_url: str
    router_url: str
    api_key: str  # a channel key: events and receipts
    kafka: str  # bootstrap servers
    token: str  # an operator token, editor or admin: the route; viewer: profiles


def resolve_target(state_file: Path, **flags: str | None) -> Target:
    """Each value from its flag, else from the dev stack's state file; every one is required."""
    state = load_state(state_file)
    services = state.services if state else {}
    known = {"profile_url": services.get("profile"), "router_url": services.get("router")}
    if state is not None:
        known |= {"ingest_url": state.ingest_url, "api_key": state.api_key, "kafka": state.kafka_bootstrap}
        known["token"] = state.operator_token
    values = {f.name: flags.get(f.name) or known.get(f.name) for f in fields(Target)}
    missing = ["--" + name.replace("_", "-") for name, value in values.items() if not value]
    if missing:
        where = f"{state_file} does not name them" if state else f"no dev stack ({state_file} not found)"
        raise DemoError(f"{where}: run `metaconnect dev` or pass {', '.join(missing)}", exit_code=2)
    return Target(**{name: str(value).rstrip("/") for name, value in values.items()})


class Stack:
    """The HTTP calls the demo makes, errors raised as `DemoError`."""

    def __init__(self, target: Target, http: httpx.AsyncClient) -> None:
        self.target, self._http = target, http
        self._operator = {"Authorization": f"Bearer {target.token}"}
        self._channel = {"Authorization": f"Bearer {target.api_key}"}

    async def put_route(self, spec: RouteSpec) -> None:
        url = f"{self.target.router_url}/v1/routes/{spec.name}"
        await self._call("PUT", url, headers=self._operator, json=spec.model_dump(mode="json"))

    async def put(self, url: str, document: dict[str, Any]) -> None:
        """Put a spec (a journey, the lifecycle) with the operator token."""
        await self._call("PUT", url, headers=self._operator, json=document)

    async def get(self, url: str) -> dict[str, Any]:
        found: dict[str, Any] = (await self._call("GET", url, headers=self._operator)).json()
        return found

    async def post(self, events: Sequence[dict[str, Any]]) -> int:
        """Post in batches; 429 and 503 are retried with the same event ids after `Retry-After`."""
        accepted, url = 0, f"{self.target.ingest_url}/v1/events/batch"
        for start in range(0, len(events), BATCH_MAX):
            body = {"events": list(events[start : start + BATCH_MAX])}
            for attempt in range(1, POST_ATTEMPTS + 1):
                busy = (429, 503) if attempt < POST_ATTEMPTS else ()
                response = await self._call("POST", url, allow=busy, headers=self._channel, json=body)
                if response.status_code not in busy:
                    break
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            if rejected := response.json().get("rejected"):
                raise DemoError(f"ingest rejected demo events: {rejected}")
            accepted += len(response.json()["accepted"])
        return accepted

    async def profile(self, ref: str) -> dict[str, Any] | None:
        url = f"{self.target.profile_url}/v1/profiles/cid:{ref}"
        response = await self._call("GET", url, allow=(404,), headers=self._operator)
        found: dict[str, Any] | None = None if response.status_code == 404 else response.json()
        return found

    async def _call(self, method: str, url: str, *, allow: tuple[int, ...] = (), **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise DemoError(f"cannot reach {url}: {exc or type(exc).__name__}; is `metaconnect dev` running?") from None
        if response.is_error and response.status_code not in allow:
            raise DemoError(f"{method} {url}: HTTP {response.status_code} {response.text[:500]}")
        return response
