"""The delivery service's SQL on real PostgreSQL: what a batch of deliveries says about refs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.db import session_factory, unit_of_work
from metaconnect_delivery import repository


async def test_in_one_batch_the_delivery_made_last_says_whom_a_ref_names(engine: AsyncEngine) -> None:
    ref = f"email:{uuid.uuid4().hex[:8]}@example.com"
    earlier, later = uuid.uuid4(), uuid.uuid4()
    t0 = datetime(2026, 12, 7, 12, tzinfo=UTC)
    async with unit_of_work(session_factory(engine)) as session:
        # The later delivery comes first in the batch (another partition's record, say).
        await repository.remember_refs(
            session, [(later, [ref, f"cid:{later}"], t0 + timedelta(seconds=1)), (earlier, [ref], t0)]
        )
    named = text("SELECT ref, customer_id FROM delivery.customer_refs WHERE ref = ANY(:refs)")
    async with engine.connect() as conn:
        result = await conn.execute(named, {"refs": [ref, f"cid:{later}"]})
        rows = {str(r): uuid.UUID(str(c)) for r, c in result.all()}
    assert rows == {ref: later, f"cid:{later}": later}


async def test_no_refs_write_nothing(engine: AsyncEngine) -> None:
    async with unit_of_work(session_factory(engine)) as session:
        await repository.remember_refs(session, [(uuid.uuid4(), [], datetime.now(UTC))])
        await repository.accept(session, [])
        await repository.add_attempts(session, [])
