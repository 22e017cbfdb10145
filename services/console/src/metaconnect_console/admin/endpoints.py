"""The admin pages (admins only): an overview, then API keys, provider accounts and access."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from metaconnect_console.admin import keys, members, providers
from metaconnect_console.deps import AdminDep
from metaconnect_console.web import page

router = APIRouter(tags=["admin"])


@router.get("/admin", response_class=HTMLResponse)
async def overview(request: Request, person: AdminDep) -> HTMLResponse:
    return page(request, "admin/index.html", person, section="admin")


router.include_router(keys.router)
router.include_router(providers.router)
router.include_router(members.router)
