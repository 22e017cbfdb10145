"""Channel apps authenticate with a bearer API key; each endpoint asks for the scope it serves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from metaconnect_common.errors import ApiError, FieldError
from metaconnect_ingest.deps import ingest_state
from metaconnect_ingest.keys.schemas import Scope
from metaconnect_ingest.keys.service import Principal

bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey", description="A channel API key (`mck_...`).")


async def authenticate(request: Request, key: str | None, scope: Scope) -> Principal:
    """The channel app behind a bearer API key: 401 without a valid key, 403 when the key lacks `scope`."""
    if not key:
        raise ApiError(401, "unauthorized", "API key required", headers={"WWW-Authenticate": "Bearer"})
    principal = await ingest_state(request).keys.verify(key)
    if principal is None:
        raise ApiError(401, "unauthorized", "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    if scope not in principal.scopes:
        message = f"this API key lacks the {scope.value} scope"
        raise ApiError(
            403,
            "forbidden",
            message,
            errors=[FieldError(field="header.authorization", rule="key_scope", message=message)],
        )
    return principal


def bearer_key(request: Request) -> str | None:
    """The credentials of an `Authorization: Bearer ...` header, as `HTTPBearer` reads them."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials if scheme.lower() == "bearer" else None


def api_key(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """FastAPI dependency: the channel app behind the request's API key, holding `scope`."""

    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Principal:
        return await authenticate(request, credentials.credentials if credentials else None, scope)

    return dependency
