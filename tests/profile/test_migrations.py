"""The profile schema's migrations match its models and run both ways; upgrading a deployment
publishes on `mc.customers.v1` whom every identifier stored so far names."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from metaconnect_common.db import session_factory
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.producer import KafkaPublisher
from metaconnect_common.migrations import alembic_config
from metaconnect_common.outbox import OutboxRelay
from metaconnect_common.schemas.customers import CustomerRefRecord
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import CUSTOMERS
from metaconnect_profile.models import OUTBOX
from tests.support import read_topic


def test_models_and_migrations_agree(database_url: str) -> None:
    # Raises if autogenerate would emit any operation (the `alembic check` of CI).
    command.check(alembic_config("metaconnect_profile", database_url))


def test_downgrade_and_upgrade_round_trip(database_url: str) -> None:
    cfg = alembic_config("metaconnect_profile", database_url)
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
    command.check(cfg)


def test_the_upgrade_publishes_whom_every_stored_identifier_names(
    empty_database_url: str, kafka_bootstrap: str
) -> None:
    cfg = alembic_config("metaconnect_profile", empty_database_url)
    command.upgrade(cfg, "0003")  # what a deployment had before `mc.customers.v1`
    survivor, merged, erased = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    asyncio.run(_store_customers(empty_database_url, survivor=survivor, merged=merged, erased=erased))

    command.upgrade(cfg, "head")

    expected = {
        f"id:{survivor}": survivor,
        f"id:{merged}": survivor,
        "cid:c-1": survivor,
        "email:ada@example.com": survivor,  # invalidated, yet it names the customer
        "ext:crm:C-7": survivor,
    }
    enqueued, published = asyncio.run(_relay(empty_database_url, kafka_bootstrap))
    assert enqueued == published == expected
    command.downgrade(cfg, "0003")  # nothing to undo
    command.upgrade(cfg, "head")


def test_the_upgrade_keeps_in_app_for_customers_seen_in_the_app(empty_database_url: str) -> None:
    cfg = alembic_config("metaconnect_profile", empty_database_url)
    command.upgrade(cfg, "0004")  # before `app_seen_at`
    in_app, elsewhere, erased = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    asyncio.run(_store_timeline(empty_database_url, in_app=in_app, elsewhere=elsewhere, erased=erased))

    command.upgrade(cfg, "head")

    seen = asyncio.run(_app_seen_at(empty_database_url))
    assert seen == {in_app: SEEN, elsewhere: None, erased: None}


SEEN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def _store_timeline(url: str, *, in_app: uuid.UUID, elsewhere: uuid.UUID, erased: uuid.UUID) -> None:
    engine = create_async_engine(url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO profile.customers (id, created_at, updated_at, erased_at, lifecycle_stage, holdout,"
                    " traits, consent, engagement, active_hours, personality)"
                    " VALUES (:id, :now, :now, :erased_at, 'lead', false, '{}', '{}', '{}', '[]', '{}')"
                ),
                [{"id": c, "now": now, "erased_at": now if c == erased else None} for c in (in_app, elsewhere, erased)],
            )
            await conn.execute(
                text(
                    "INSERT INTO profile.timeline (event_id, customer_id, occurred_at, received_at, type, channel,"
                    " source, properties) VALUES (:id, :customer, :at, :at, :type, :channel, 'test', '{}')"
                ),
                [
                    {"id": uuid.uuid4(), "customer": customer, "at": at, "type": kind, "channel": channel}
                    for customer, at, kind, channel in [
                        (in_app, SEEN - timedelta(days=3), "app.opened", "in_app"),
                        (in_app, SEEN, "message.read", "in_app"),
                        (in_app, SEEN + timedelta(days=1), "app.uninstalled", "in_app"),  # no presence
                        (elsewhere, SEEN, "customer.created", "in_app"),  # a backend's sign-up
                        (elsewhere, SEEN, "app.opened", "web"),
                        (erased, SEEN, "app.opened", "in_app"),
                    ]
                ],
            )
    finally:
        await engine.dispose()


async def _app_seen_at(url: str) -> dict[uuid.UUID, datetime | None]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, app_seen_at FROM profile.customers"))).all()
    finally:
        await engine.dispose()
    return {row.id: row.app_seen_at for row in rows}


async def _store_customers(url: str, *, survivor: uuid.UUID, merged: uuid.UUID, erased: uuid.UUID) -> None:
    """Customers as the earlier revisions left them: a survivor owning every identifier (those of the
    customer merged into it, an invalidated e-mail and a device token included), and an erased one."""
    engine = create_async_engine(url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO profile.customers (id, created_at, updated_at, merged_into, erased_at,"
                    " lifecycle_stage, holdout, traits, consent, engagement, active_hours, personality)"
                    " VALUES (:id, :now, :now, :into, :erased_at, 'lead', false, '{}', '{}', '{}', '[]', '{}')"
                ),
                [
                    {"id": survivor, "now": now, "into": None, "erased_at": None},
                    {"id": merged, "now": now, "into": survivor, "erased_at": None},
                    {"id": erased, "now": now, "into": None, "erased_at": now},
                ],
            )
            await conn.execute(
                text(
                    "INSERT INTO profile.identities (kind, value, customer_id, created_at, invalid_at)"
                    " VALUES (:kind, :value, :owner, :now, :invalid_at)"
                ),
                [
                    {"kind": kind, "value": value, "owner": survivor, "now": now, "invalid_at": invalid_at}
                    for kind, value, invalid_at in [
                        ("mc", str(survivor), None),
                        ("mc", str(merged), None),
                        ("cid", "c-1", None),
                        ("email", "ada@example.com", now),
                        ("device", "apns-token-1", None),
                        ("ext:crm", "C-7", None),
                    ]
                ],
            )
    finally:
        await engine.dispose()


async def _relay(url: str, bootstrap: str) -> tuple[dict[str, uuid.UUID], dict[str, uuid.UUID]]:
    """The `mc.customers.v1` records in the outbox, then as the relay published them."""
    engine = create_async_engine(url)
    kafka = KafkaSettings(bootstrap=bootstrap, linger_ms=0)
    publisher = KafkaPublisher(kafka)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(OUTBOX.c.topic, OUTBOX.c.key, OUTBOX.c.value))).all()
        assert {row.topic for row in rows} == {CUSTOMERS}
        enqueued = {row.key.decode(): CustomerRefRecord.model_validate_json(row.value).customer_id for row in rows}
        await ensure_topics(kafka, [CUSTOMERS])
        await OutboxRelay(session_factory(engine), publisher, OUTBOX).flush()
    finally:
        await publisher.stop()
        await engine.dispose()
    published = {
        r.key.decode(): CustomerRefRecord.model_validate_json(r.value).customer_id
        for r in await read_topic(bootstrap, CUSTOMERS)
        if r.key is not None
    }
    return enqueued, published
