"""The in-app inbox over REST and server-sent events.

* `GET /v1/inbox/{ref}`: messages newest first, with read state and the unread count.
* `POST /v1/inbox/{ref}/messages/{message_id}/read`: marks it read (idempotent) and
  reports a `message.read` interaction, so profiles and the router see it (a pending item the
  customer read in-app leaves its bundle).
* `GET /v1/inbox/{ref}/stream`: `text/event-stream`; first the unread count, then every
  new message as it is stored, on any replica.

`{ref}` names the customer as the profile API does (`inbox.auth.inbox_reader` resolves it).
Devices read with an inbox token their app's backend mints at ingest (`POST /v1/inbox/tokens`);
a device listing or streaming its inbox reports `inbox.opened` (once a day), the app presence
that makes in-app reachable.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from metaconnect_common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from metaconnect_common.http import StrictQueryRoute
from metaconnect_common.stage import SessionDep, SessionsDep
from metaconnect_delivery import repository
from metaconnect_delivery.deps import InboxFeedDep, InboxPresenceDep
from metaconnect_delivery.inbox import service
from metaconnect_delivery.inbox.auth import InboxReader
from metaconnect_delivery.models import InboxMessage

router = APIRouter(
    route_class=StrictQueryRoute,
    tags=["inbox"],
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "No such message."}},
)
POLL_S = 15.0


class InboxItemOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    item_id: uuid.UUID
    message_id: str
    title: str | None
    body: str
    action_url: str | None
    tone: str
    category: str


class InboxMessageOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    delivery_id: uuid.UUID
    items: list[InboxItemOut] = Field(description="In reading order: one message, or a meta-connect bundle.")
    overflow: int
    overflow_line: str | None
    created_at: datetime
    read_at: datetime | None


class InboxOut(BaseModel):
    unread: int
    messages: list[InboxMessageOut]


def _out(row: InboxMessage) -> InboxMessageOut:
    content: dict[str, Any] = row.content
    return InboxMessageOut(
        id=row.id,
        delivery_id=row.delivery_id,
        items=[InboxItemOut.model_validate(i) for i in content["items"]],
        overflow=content.get("overflow", 0),
        overflow_line=content.get("overflow_line"),
        created_at=row.created_at,
        read_at=row.read_at,
    )


@router.get("/v1/inbox/{ref}", summary="A customer's inbox, newest first")
async def list_inbox(
    access: InboxReader,
    session: SessionDep,
    presence: InboxPresenceDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    unread_only: bool = False,
) -> InboxOut:
    customers = access.customers
    if not customers:
        return InboxOut(unread=0, messages=[])
    if access.device:
        await presence.opened(customers[0], datetime.now(UTC))
    rows = await repository.inbox_of(session, customers, limit, unread_only=unread_only)
    unread = await repository.unread_count(session, customers)
    return InboxOut(unread=unread, messages=[_out(r) for r in rows])


@router.post("/v1/inbox/{ref}/messages/{message_id}/read", summary="Mark a message read")
async def mark_read(access: InboxReader, message_id: uuid.UUID, sessions: SessionsDep) -> InboxMessageOut:
    customers = access.customers
    row = await service.mark_read(sessions, customers, message_id, datetime.now(UTC)) if customers else None
    if row is None:
        raise ApiError(404, "not_found", f"no message {message_id} in this inbox")
    return _out(row)


@router.get(
    "/v1/inbox/{ref}/stream",
    summary="Live inbox (server-sent events)",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`unread`, then `message` events."}},
)
async def stream(
    access: InboxReader, feed: InboxFeedDep, sessions: SessionsDep, presence: InboxPresenceDep
) -> EventSourceResponse:
    customers = access.customers
    if customers and access.device:
        await presence.opened(customers[0], datetime.now(UTC))

    async def events() -> AsyncGenerator[ServerSentEvent]:
        if not customers:  # nothing delivered by this ref yet: an empty inbox (EventSource reconnects)
            yield ServerSentEvent(data=InboxOut(unread=0, messages=[]).model_dump_json(), event="unread")
            return
        with feed.subscribe(customers[0]) as woken:  # new messages are the survivor's
            async with sessions() as session:
                since = await repository.latest_inbox_time(session, customers)
                unread = await repository.unread_count(session, customers)
            yield ServerSentEvent(data=InboxOut(unread=unread, messages=[]).model_dump_json(), event="unread")
            while True:
                woken.clear()
                async with sessions() as session:
                    new = await repository.inbox_since(session, customers, since)
                for row in new:
                    since = max(since, row.created_at) if since else row.created_at
                    yield ServerSentEvent(data=_out(row).model_dump_json(), event="message", id=str(row.id))
                try:
                    await asyncio.wait_for(woken.wait(), POLL_S)
                except TimeoutError:
                    pass

    return EventSourceResponse(_until(events(), access.expires_at), ping=15)


async def _until(events: AsyncGenerator[ServerSentEvent], expires_at: int) -> AsyncIterator[ServerSentEvent]:
    """`events` until `expires_at` (seconds since the epoch), then an `expired` event and the end:
    the token that opened the stream no longer entitles anyone to it. The client reconnects
    with a fresh token."""
    pending: asyncio.Task[ServerSentEvent] | None = None
    try:
        while True:
            left = expires_at - time.time()
            if left <= 0:
                break
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({pending}, timeout=left)
            if not done:
                break
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield event
        yield ServerSentEvent(data='{"reason": "token_expired"}', event="expired")
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.wait({pending})
        await events.aclose()
