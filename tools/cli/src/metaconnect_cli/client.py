"""A small synchronous client for the operator REST calls, and where its URL and token come from.

Resolution order for both: the command-line flag, the environment (`MC_INGEST_URL`,
`MC_OPERATOR_TOKEN`), the file `metaconnect dev` writes (`.metaconnect/dev.json`), then
the local default (http://127.0.0.1:8001, an admin token signed with the local
`MC_AUTH_*` settings).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

import httpx
import jwt
from pydantic import BaseModel, Field, ValidationError

from metaconnect_common.auth import Role, issue_token
from metaconnect_common.errors import ErrorBody
from metaconnect_common.settings import AuthSettings

DEFAULT_INGEST_URL = "http://127.0.0.1:8001"
DEFAULT_PROFILE_URL = "http://127.0.0.1:8002"
DEFAULT_ROUTER_URL = "http://127.0.0.1:8003"
DEFAULT_SANDBOX_URL = "http://127.0.0.1:8025"
DEFAULT_STATE_FILE = Path(".metaconnect") / "dev.json"


class DevState(BaseModel):
    """What `metaconnect dev` wrote about the running stack (`.metaconnect/dev.json`)."""

    ingest_url: str
    operator_token: str
    api_key: str | None = None
    kafka_bootstrap: str
    database_url: str
    services: dict[str, str] = Field(default_factory=dict)
    # The provider sandbox delivery sends to: its HTTP URL and its SMTP host:port.
    sandbox_url: str | None = None
    sandbox_smtp: str | None = None
    # A one-time link that signs in to the console as admin (`metaconnect tokens sign-in-link` makes another).
    console_sign_in_url: str | None = None


def load_state(path: Path = DEFAULT_STATE_FILE) -> DevState | None:
    """The dev stack's state, or None when there is none (or it is unreadable)."""
    try:
        return DevState.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def save_state(state: DevState, path: Path) -> None:
    """Write atomically and readable by the owner only: the file holds secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(state.model_dump_json(indent=2) + "\n")
    tmp.replace(path)


def _unexpired(token: str, *, margin_s: float = 60.0) -> bool:
    # Only the expiry matters here: the server checks the signature, possibly with a
    # secret this shell does not have.
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    exp = claims.get("exp")
    return isinstance(exp, int | float) and exp > time.time() + margin_s


def resolve_ingest_url(flag: str | None, state_file: Path = DEFAULT_STATE_FILE) -> str:
    """`--url`, else `MC_INGEST_URL`, else the dev stack's, else the local default."""
    if flag:
        return flag.rstrip("/")
    if env := os.environ.get("MC_INGEST_URL"):
        return env.rstrip("/")
    state = load_state(state_file)
    if state is not None:
        return state.ingest_url.rstrip("/")
    return DEFAULT_INGEST_URL


def _service_url(service: str, default: str, flag: str | None, state_file: Path) -> str:
    if flag:
        return flag.rstrip("/")
    if env := os.environ.get(f"MC_{service.upper()}_URL"):
        return env.rstrip("/")
    state = load_state(state_file)
    if state is not None and service in state.services:
        return state.services[service].rstrip("/")
    return default


def resolve_router_url(flag: str | None, state_file: Path = DEFAULT_STATE_FILE) -> str:
    """`--url`, else `MC_ROUTER_URL`, else the dev stack's router, else the local default."""
    return _service_url("router", DEFAULT_ROUTER_URL, flag, state_file)


def resolve_profile_url(flag: str | None, state_file: Path = DEFAULT_STATE_FILE) -> str:
    """`--profile-url`, else `MC_PROFILE_URL`, else the dev stack's profile service, else the local default."""
    return _service_url("profile", DEFAULT_PROFILE_URL, flag, state_file)


def resolve_sandbox_url(flag: str | None, state_file: Path = DEFAULT_STATE_FILE) -> str:
    """`--url`, else `MC_SANDBOX_URL`, else the dev stack's sandbox, else the local default."""
    if flag:
        return flag.rstrip("/")
    if env := os.environ.get("MC_SANDBOX_URL"):
        return env.rstrip("/")
    state = load_state(state_file)
    if state is not None and state.sandbox_url:
        return state.sandbox_url.rstrip("/")
    return DEFAULT_SANDBOX_URL


def resolve_operator_token(flag: str | None, state_file: Path = DEFAULT_STATE_FILE) -> str:
    """`--token`, else `MC_OPERATOR_TOKEN`, else the dev stack's (if unexpired), else a fresh admin token."""
    if flag:
        return flag
    if env := os.environ.get("MC_OPERATOR_TOKEN"):
        return env
    state = load_state(state_file)
    if state is not None and _unexpired(state.operator_token):
        return state.operator_token
    return issue_token(AuthSettings(), subject="metaconnect-cli", role=Role.ADMIN, ttl_s=900)


class ApiProblem(Exception):
    """The API answered with an error, or could not be reached (status 0)."""

    def __init__(self, status: int, body: ErrorBody, *, url: str = "", hints: Sequence[str] = ()) -> None:
        super().__init__(body.message)
        self.status = status
        self.body = body
        self.url = url
        self.hints = list(hints)

    def __str__(self) -> str:
        if self.status == 0:
            lines = [self.body.message]
        else:
            lines = [f"HTTP {self.status} {self.body.error}: {self.body.message} ({self.url})"]
        lines += [f"  {e.field}: {e.message} [{e.rule}]" for e in self.body.errors]
        lines += [f"  hint: {hint}" for hint in self.hints]
        return "\n".join(lines)


def _problem(response: httpx.Response) -> ApiProblem:
    try:
        body = ErrorBody.model_validate(response.json())
    except (ValueError, ValidationError):
        body = ErrorBody(error="http_error", message=response.text[:500] or response.reason_phrase)
    hints = []
    if response.status_code in (401, 403):
        hints.append("pass --token or set MC_OPERATOR_TOKEN (`metaconnect tokens issue --role admin`)")
    return ApiProblem(response.status_code, body, url=str(response.request.url), hints=hints)


class OperatorClient:
    """Operator calls to one service's REST API, errors raised as `ApiProblem`."""

    url_env = "MC_INGEST_URL"

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0, url_flag: str = "--url") -> None:
        self.base_url = base_url.rstrip("/")
        self.url_flag = url_flag  # the option that names this service's URL, for the hint
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=3.0),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiProblem(
                0,
                ErrorBody(error="unreachable", message=f"cannot reach {self.base_url}: {exc or type(exc).__name__}"),
                hints=[f"is `metaconnect dev` running? Otherwise pass {self.url_flag} or set {self.url_env}"],
            ) from None
        if response.is_error:
            raise _problem(response)
        return response


class IngestClient(OperatorClient):
    """Operator calls to the ingest service (`/v1/api-keys`)."""

    def create_key(
        self,
        name: str,
        *,
        channels: list[str] | None = None,
        event_types: list[str] | None = None,
        rate_per_s: float | None = None,
        burst: int | None = None,
        scopes: list[str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "channels": channels or [], "event_types": event_types or []}
        if scopes:
            body["scopes"] = scopes
        if rate_per_s is not None:
            body["rate_per_s"] = rate_per_s
        if burst is not None:
            body["burst"] = burst
        created: dict[str, Any] = self._call("POST", "/v1/api-keys", json=body).json()
        return created

    def list_keys(self, *, include_revoked: bool = False) -> list[dict[str, Any]]:
        params = {"include_revoked": "true"} if include_revoked else {}
        keys: list[dict[str, Any]] = self._call("GET", "/v1/api-keys", params=params).json()
        return keys

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        try:
            key: dict[str, Any] = self._call("GET", f"/v1/api-keys/{key_id}").json()
        except ApiProblem as problem:
            if problem.status == 404:
                return None
            raise
        return key

    def revoke_key(self, key_id: str) -> None:
        self._call("DELETE", f"/v1/api-keys/{key_id}")


class RouterClient(OperatorClient):
    """Operator calls to the router service (`/v1/routes`)."""

    url_env = "MC_ROUTER_URL"

    def plan_spec(self, path: str, spec: dict[str, Any]) -> dict[str, Any]:
        """What putting a spec (a route, a journey) at `path` (`/v1/routes`) would do."""
        plan: dict[str, Any] = self._call("POST", f"{path}/plan", json=spec).json()
        return plan

    def put_spec(self, path: str, spec: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The spec after the put, and whether it was created."""
        response = self._call("PUT", f"{path}/{spec.get('name', '')}", json=spec)
        found: dict[str, Any] = response.json()
        return found, response.status_code == 201

    def list_specs(self, path: str) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self._call("GET", path).json()
        return listed

    def plan_route(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self.plan_spec("/v1/routes", spec)

    def put_route(self, spec: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        return self.put_spec("/v1/routes", spec)

    def simulate(self, body: dict[str, Any]) -> dict[str, Any]:
        """The decision the live code makes on this event and profile snapshot; sends and stores nothing."""
        outcome: dict[str, Any] = self._call("POST", "/v1/simulate", json=body).json()
        return outcome


class ProfileClient(OperatorClient):
    """Operator calls to the profile service (`/v1/profiles`, `/v1/lifecycle`)."""

    url_env = "MC_PROFILE_URL"

    def get_profile(self, ref: str) -> dict[str, Any] | None:
        """The profile a ref names (its id or `kind:value`), or None when no customer has it."""
        try:
            found: dict[str, Any] = self._call("GET", f"/v1/profiles/{quote(ref, safe=':@+')}").json()
        except ApiProblem as problem:
            if problem.status == 404:
                return None
            raise
        return found

    def get_lifecycle(self) -> dict[str, Any]:
        current: dict[str, Any] = self._call("GET", "/v1/lifecycle").json()
        return current

    def plan_lifecycle(self, spec: dict[str, Any]) -> dict[str, Any]:
        plan: dict[str, Any] = self._call("POST", "/v1/lifecycle/plan", json=spec).json()
        return plan

    def put_lifecycle(self, spec: dict[str, Any]) -> dict[str, Any]:
        written: dict[str, Any] = self._call("PUT", "/v1/lifecycle", json=spec).json()
        return written


def key_id_of(api_key: str) -> str | None:
    """The id inside a channel API key (`mck_<32 hex id><64 hex secret>`), if it has that shape."""
    body = api_key.removeprefix("mck_")
    if body == api_key or len(body) != 96:
        return None
    try:
        return str(uuid.UUID(hex=body[:32]))
    except ValueError:
        return None
