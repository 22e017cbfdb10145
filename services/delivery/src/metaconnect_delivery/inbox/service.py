"""The in-app inbox's writes: a customer reads a message; a customer's device opens the inbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.outbox import enqueue
from metaconnect_common.schemas import Channel, CustomerRef, Interaction
from metaconnect_delivery import repository
from metaconnect_delivery.models import OUTBOX, InboxMessage
from metaconnect_delivery.receipts import RECEIPTS_NAMESPACE, SOURCE, interaction, receipt_record

INBOX_OPENED: Final = "inbox.opened"


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


class InboxPresence:
    """Reports `inbox.opened` when a customer's device opens the inbox (lists it or streams it), so
    the profile counts in-app reachable (app presence): at most once per customer and UTC day.
    The event id derives from (customer, day), so replicas reporting the same day are one event
    downstream; the memory of what this replica reported only saves writes."""

    MAX_REMEMBERED: Final = 100_000

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._reported: dict[uuid.UUID, date] = {}

    async def opened(self, customer_id: uuid.UUID, now: datetime) -> None:
        day = now.date()
        if self._reported.get(customer_id) == day:
            return
        event = Interaction(
            event_id=uuid.uuid5(RECEIPTS_NAMESPACE, f"{customer_id}:{INBOX_OPENED}:{day.isoformat()}"),
            customer=CustomerRef(metaconnect_id=customer_id),
            type=INBOX_OPENED,
            channel=Channel.IN_APP,
            occurred_at=now,
            received_at=now,
            source=SOURCE,
            properties={},
        )
        async with unit_of_work(self._sessions) as session:
            await enqueue(session, OUTBOX, [receipt_record(event)])
        if len(self._reported) >= self.MAX_REMEMBERED:
            self._reported.clear()
        self._reported[customer_id] = day
