"""Previews of message texts (operator tokens: viewers may preview; nothing is sent or stored)."""

from __future__ import annotations

from fastapi import APIRouter

from metaconnect_common.auth import ViewerDep
from metaconnect_common.errors import ERROR_RESPONSES
from metaconnect_common.http import StrictQueryRoute
from metaconnect_delivery.deps import DeliveriesDep
from metaconnect_delivery.preview.service import PreviewIn, PreviewOut, preview

router = APIRouter(route_class=StrictQueryRoute, tags=["preview"], responses=ERROR_RESPONSES)


@router.post(
    "/v1/preview",
    summary="Message texts rendered as a delivery would send them, per tone, channel and locale",
    description="Each text is a one-item delivery rendered with the code every send runs (sandboxed "
    "templates, the channel's layout and limits: SMS segments, push lengths). Sends and stores nothing.",
)
async def preview_texts(body: PreviewIn, _: ViewerDep, deliveries: DeliveriesDep) -> PreviewOut:
    return preview(body, max_sms_segments=deliveries.max_sms_segments)
