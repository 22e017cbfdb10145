"""Sign in (OIDC or a one-time dev link), sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metaconnect_console.auth.oidc import SignInFailed
from metaconnect_console.auth.service import Started
from metaconnect_console.deps import ChangeDep, StateDep
from metaconnect_console.web import page

router = APIRouter(tags=["sign-in"])


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, state: StateDep, next: Annotated[str | None, Query()] = None) -> Response:
    return page(
        request,
        "sign_in.html",
        None,
        next=next,
        oidc=state.sign_ins.oidc is not None,
        issuer=state.settings.oidc_issuer,
    )


@router.get("/auth/start")
async def start(request: Request, state: StateDep, next: Annotated[str | None, Query()] = None) -> Response:
    try:
        url = await state.sign_ins.begin(next)
    except SignInFailed as exc:
        return page(request, "sign_in.html", None, status_code=502, error=str(exc), oidc=False)
    return RedirectResponse(url, status_code=303)


@router.get("/auth/callback")
async def callback(
    request: Request,
    state: StateDep,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state_: Annotated[str | None, Query(alias="state", max_length=128)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    if error or not code or not state_:
        reason = f"the identity provider said: {error}" if error else "the identity provider sent no code"
        return _refused(request, state, reason)
    try:
        started = await state.sign_ins.complete(state=state_, code=code)
    except SignInFailed as exc:
        return _refused(request, state, str(exc))
    return _signed_in(state, started)


@router.get("/auth/link")
async def link(request: Request, state: StateDep, token: Annotated[str, Query(max_length=4096)]) -> Response:
    try:
        started = await state.sign_ins.with_link(token)
    except SignInFailed as exc:
        return _refused(request, state, str(exc))
    return _signed_in(state, started)


@router.post("/sign-out")
async def sign_out(request: Request, state: StateDep, person: ChangeDep) -> Response:
    await state.sign_ins.sign_out(request.cookies.get(state.cookie_name))
    response = page(request, "signed_out.html", None, name=person.name)
    response.delete_cookie(state.cookie_name, path="/", secure=state.settings.secure_cookies, httponly=True)
    return response


def _refused(request: Request, state: StateDep, reason: str) -> Response:
    return page(request, "sign_in.html", None, status_code=403, error=reason, oidc=state.sign_ins.oidc is not None)


def _signed_in(state: StateDep, started: Started) -> Response:
    response = RedirectResponse(started.return_to, status_code=303)
    response.set_cookie(
        state.cookie_name,
        started.cookie,
        max_age=state.settings.session_ttl_s,
        path="/",
        secure=state.settings.secure_cookies,
        httponly=True,
        samesite="lax",  # sent on the top-level redirect back from the identity provider
    )
    return response
