"""One JSON error shape for every service: the field, the rule it broke, a message.

{"error": "validation_failed", "message": "...",
 "errors": [{"field": "customer.email", "rule": "email", "message": "..."}]}
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException


class FieldError(BaseModel):
    field: str
    rule: str
    message: str


class ErrorBody(BaseModel):
    error: str
    message: str
    errors: list[FieldError] = []


class ApiError(Exception):
    """An error the caller can act on, raised from service code."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(error=error, message=message, errors=list(errors))
        self.headers = headers


def field_errors(errors: Sequence[Any], *, strip: Sequence[str] = ("body",)) -> list[FieldError]:
    """Pydantic errors as FieldErrors with dotted field paths (input values never echoed).

    A validator of a whole JSON value that found its fault deeper inside names it in the error's
    context (`{"field": "properties.a.b"}`, see `metaconnect_common.storable`): that path replaces
    the validated field's own name."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        deeper = (err.get("ctx") or {}).get("field")
        if isinstance(deeper, str) and loc:
            loc = [*loc[:-1], deeper]
        if loc and loc[0] in strip:
            loc = loc[1:]
        out.append(
            FieldError(
                field=".".join(loc) or "body",
                rule=str(err.get("type", "invalid")),
                message=str(err.get("msg", "")),
            )
        )
    return out


def validation_status(errors: Sequence[FieldError]) -> int:
    """413 when something was too large, 400 for unreadable JSON, else 422."""
    rules = {e.rule for e in errors}
    if "max_bytes" in rules:
        return 413
    if "json_invalid" in rules:
        return 400
    return 422


def invalid_request(errors: Sequence[FieldError]) -> ApiError:
    """The ApiError for a request that failed validation: 400, 413 or 422 by `validation_status`."""
    status = validation_status(errors)
    message = {400: "request body is not valid JSON", 413: "payload too large"}.get(status, "request failed validation")
    error = {400: "malformed_json", 413: "payload_too_large"}.get(status, "validation_failed")
    return ApiError(status, error, message, errors=errors)


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def error_response(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map validation errors, HTTP errors and ApiErrors to the shared JSON shape."""

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError | ValidationError)
        error = invalid_request(field_errors(exc.errors()))
        return error_response(error.status, error.body)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(
            exc.status_code,
            ErrorBody(error=_slug(exc.status_code), message=str(exc.detail)),
            dict(exc.headers or {}),
        )

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.body, exc.headers)

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(ApiError, on_api_error)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": desc}
    for status, desc in {
        400: "Malformed JSON.",
        401: "Missing or invalid credentials.",
        403: "Credentials valid but not allowed to do this.",
        413: "Body or properties too large.",
        422: "Validation failed; `errors` names each field and rule.",
    }.items()
}
