"""The `mc.customers.v1` consumer: keeps `customer_refs` equal to the topic's latest record per ref.

A batch of one partition is applied in one transaction, each ref taking its last record of the
batch (the topic is keyed by ref, so a ref's records are in order in its partition). Applying a
record twice, or an older batch again after a crash, ends in the same rows once the newer
records are applied after it: the consumer commits offsets only after the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.kafka.records import BatchHandler, ConsumedRecord, Handler, PermanentError
from metaconnect_common.schemas.customers import CustomerRefRecord
from metaconnect_ingest.customers import repository

MAX_REF_BYTES = 1024


def latest_refs(records: Sequence[ConsumedRecord]) -> dict[str, uuid.UUID | None]:
    """Each ref's customer after these records, in order (None: forgotten); PermanentError for a
    record without a readable key or value (pure)."""
    latest: dict[str, uuid.UUID | None] = {}
    for record in records:
        if not record.key or len(record.key) > MAX_REF_BYTES:
            raise PermanentError("an mc.customers.v1 record needs a ref as its key")
        try:
            ref = record.key.decode()
            value = None if record.value is None else CustomerRefRecord.model_validate_json(record.value)
        except (UnicodeDecodeError, ValidationError) as exc:
            raise PermanentError(f"unreadable mc.customers.v1 record: {type(exc).__name__}") from None
        latest[ref] = None if value is None else value.customer_id
    return latest


def customer_refs_handlers(sessions: async_sessionmaker[AsyncSession]) -> tuple[Handler, BatchHandler]:
    """The consumer's record handler and batch handler."""

    async def handle_batch(records: Sequence[ConsumedRecord]) -> None:
        latest = latest_refs(records)
        async with unit_of_work(sessions) as session:
            await repository.apply(session, latest)

    async def handle(record: ConsumedRecord) -> None:
        await handle_batch([record])

    return handle, handle_batch
