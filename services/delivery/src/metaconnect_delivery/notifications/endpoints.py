"""Notifications to staff over REST (admin operator tokens): send one, read its state."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from metaconnect_common.auth import AdminDep
from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from metaconnect_common.http import StrictQueryRoute
from metaconnect_delivery.deps import NotificationsDep
from metaconnect_delivery.models import Attempt, NotificationRow
from metaconnect_delivery.notifications.schemas import NotificationAttemptOut, NotificationIn, NotificationOut
from metaconnect_delivery.notifications.service import IdReused

router = APIRouter(
    route_class=StrictQueryRoute,
    tags=["notifications"],
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "No such notification."}},
)


def _out(row: NotificationRow, attempts: list[Attempt] | None = None) -> NotificationOut:
    out = NotificationOut.model_validate(row)
    if not attempts:
        return out
    return out.model_copy(update={"attempts": [NotificationAttemptOut.model_validate(a) for a in attempts]})


@router.post(
    "/v1/notifications",
    status_code=202,
    summary="Send a message to staff by e-mail or webhook (not to a customer)",
    description="Accepted at once and sent through the channel's configured provider, with the retries, backoff "
    "and circuit breaker deliveries have. The same `id` again answers the notification already accepted and "
    "sends nothing more. No receipt, no customer, no inbox message.",
    responses={
        202: {"description": "Accepted (or accepted before, under this id)."},
        409: {"model": ErrorBody, "description": "The id names a notification with another channel or subject."},
    },
)
async def send_notification(
    body: NotificationIn, operator: AdminDep, notifications: NotificationsDep
) -> NotificationOut:
    try:
        row, _ = await notifications.submit(body, by=operator.subject)
    except IdReused:
        raise ApiError(
            409, "id_reused", f"notification {body.id} was accepted with another channel or subject"
        ) from None
    return _out(row)


@router.get("/v1/notifications/{notification_id}", summary="A notification's state and its attempts")
async def get_notification(notification_id: uuid.UUID, _: AdminDep, notifications: NotificationsDep) -> NotificationOut:
    found = await notifications.read(notification_id)
    if found is None:
        raise ApiError(404, "not_found", f"no notification {notification_id}")
    row, attempts = found
    return _out(row, list(attempts))
