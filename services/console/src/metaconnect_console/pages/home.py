"""The start page: who is signed in, and where each kind of work lives."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from metaconnect_console.deps import ViewerDep
from metaconnect_console.web import page

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, person: ViewerDep) -> HTMLResponse:
    return page(request, "home.html", person)
