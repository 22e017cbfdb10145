"""The in-app inbox's one write: a customer reads a message."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.outbox import enqueue
from metaconnect_common.schemas import Channel
from metaconnect_delivery import repository
from metaconnect_delivery.models import OUTBOX, InboxMessage
from metaconnect_delivery.receipts import interaction, receipt_record


async def mark_read(
    sessions: async_sessionmaker[AsyncSession], customers: Sequence[uuid.UUID], message_id: uuid.UUID, now: datetime
) -> InboxMessage | None:
    """Mark the message read (idempotent) and report a `message.read` interaction the first time,
    so profiles and the router see it (a pending item read in-app leaves its bundle). None if the
    inbox of `customers` (a customer and those merged into it) holds no such message."""
    async with unit_of_work(sessions) as session:
        row = await repository.inbox_message(session, customers, message_id, lock=True)
        if row is None or row.read_at is not None:
            return row
        row.read_at = now
        read = interaction(
            "message.read",
            customer_id=row.customer_id,  # the profile service finds a merged customer's survivor
            delivery_id=row.delivery_id,
            item_ids=[uuid.UUID(i["item_id"]) for i in row.content["items"]],
            channel=Channel.IN_APP,
            now=now,
            provider="inbox",
        )
        await enqueue(session, OUTBOX, [receipt_record(read)])
        return row
