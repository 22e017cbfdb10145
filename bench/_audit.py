"""What a pipeline run did with what ingest accepted, read from the databases, the topics and
the sandbox's recording: nothing lost, nothing applied or sent twice.

* profile: every accepted event id processed, and in the timeline once;
* router: one decision per (event, route message) the routes call for, one item per decision,
  every item in a delivery;
* delivery: every delivery the router wrote reached the provider (an accepted FCM call whose
  collapse key is the delivery id), none was called again after its success was recorded;
  a delivery called twice is a *double send*, *explained* when an attempt of it ended with an
  unknown outcome (a timeout: the provider may have taken it, and push has no idempotency key;
  the collapse key makes the phone show it once);
* receipts: one `message.sent` per sent delivery in the profile's timeline, and the router
  counted each delivered item once (`arm_stats`);
* no record on a dead-letter topic.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench._traffic import MARKETING_TYPES
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import STAGES, dlq_topic
from metaconnect_sandbox.recording import ReceivedMessage


@dataclass
class Audit:
    accepted: int = 0
    applied: int = 0
    not_applied: int = 0
    timeline_missing: int = 0
    decisions_expected: int = 0
    decided: int = 0
    decisions_missing: int = 0
    decisions_doubled: int = 0
    items_without_delivery: int = 0
    deliveries_expected: int = 0
    deliveries_sent: int = 0
    deliveries_pending: int = 0
    deliveries_failed: int = 0
    lost: int = 0
    double_sends: int = 0
    double_sends_explained: int = 0
    calls_after_success: int = 0
    unknown_outcomes: int = 0
    receipts_missing: int = 0
    receipts_doubled: int = 0
    arm_counts: float = 0.0
    items_delivered: int = 0
    dead_letters: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        """What makes the run fail: any loss or duplicate (an explained double send is neither)."""
        checks = {
            "events not applied": self.not_applied,
            "events missing from the timeline": self.timeline_missing,
            "decisions missing": self.decisions_missing,
            "decisions doubled": self.decisions_doubled,
            "items without a delivery": self.items_without_delivery,
            "deliveries not sent": self.lost,
            "unexplained double sends": self.double_sends - self.double_sends_explained,
            "calls after a recorded success": self.calls_after_success,
            "receipts missing": self.receipts_missing,
            "receipts doubled": self.receipts_doubled,
            "items counted by the router not once": int(abs(self.arm_counts - self.items_delivered) > 1e-6),
            "dead letters": self.dead_letters,
        }
        return [f"{name}: {count}" for name, count in checks.items() if count]

    @property
    def missing(self) -> int:
        """What is still on its way (a drain waits for it): not applied, decided, delivered or counted yet."""
        return (
            self.not_applied
            + self.timeline_missing
            + self.decisions_missing
            + self.items_without_delivery
            + self.lost
            + self.receipts_missing
            + int(self.arm_counts < self.items_delivered)
        )

    def fields(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "examples"}


def expected_decisions(types: dict[str, str]) -> int:
    """Decisions the routes call for, given accepted event id -> (type with the price rule applied)."""
    return sum(1 for t in types.values() if t in (*MARKETING_TYPES, "order.confirmed"))


async def audit(database_url: str, bootstrap: str, accepted: dict[str, str], calls: list[ReceivedMessage]) -> Audit:
    """`accepted`: every event id ingest accepted -> its type as the routes see it (`product.viewed`
    under 20 is `product.viewed.cheap`); `calls`: what the sandbox received."""
    result = Audit(accepted=len(accepted))
    ids = [uuid.UUID(i) for i in accepted]
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            processed = set(
                await conn.scalars(
                    text("SELECT event_id FROM profile.processed_events WHERE event_id = ANY(:ids)"), {"ids": ids}
                )
            )
            result.applied = len(processed)
            result.not_applied = len(ids) - len(processed)
            _example(result, "not applied", [str(i) for i in ids if i not in processed])
            in_timeline = set(
                await conn.scalars(
                    text("SELECT event_id FROM profile.timeline WHERE event_id = ANY(:ids)"), {"ids": ids}
                )
            )
            result.timeline_missing = len(processed - in_timeline)

            result.decisions_expected = expected_decisions(accepted)
            rows = (
                await conn.execute(
                    text(
                        "SELECT event_id, route, message_id, count(*) FROM router.decisions"
                        " WHERE event_id = ANY(:ids) AND outcome IN ('sent', 'bundled') GROUP BY 1, 2, 3"
                    ),
                    {"ids": ids},
                )
            ).all()
            result.decided = sum(r[3] for r in rows)
            result.decisions_doubled = sum(r[3] - 1 for r in rows)
            decided_events = {r[0] for r in rows}
            should = {uuid.UUID(i) for i, t in accepted.items() if t in (*MARKETING_TYPES, "order.confirmed")}
            result.decisions_missing = len(should - decided_events)
            _example(result, "decisions missing", [str(i) for i in should - decided_events])

            items = (
                await conn.execute(
                    text(
                        "SELECT i.id, i.delivery_id, i.delivered_at FROM router.items i"
                        " JOIN router.decisions d ON d.id = i.decision_id WHERE d.event_id = ANY(:ids)"
                    ),
                    {"ids": ids},
                )
            ).all()
            result.items_without_delivery = sum(1 for _, delivery, _ in items if delivery is None)
            result.items_delivered = sum(1 for *_, delivered_at in items if delivered_at is not None)
            expected = {delivery for _, delivery, _ in items if delivery is not None}
            result.deliveries_expected = len(expected)
            status_rows = await conn.execute(
                text("SELECT status, count(*) FROM delivery.deliveries WHERE id = ANY(:ids) GROUP BY 1"),
                {"ids": list(expected)},
            )
            statuses: dict[str, int] = {str(status): int(count) for status, count in status_rows.all()}
            result.deliveries_sent = statuses.get("sent", 0)
            result.deliveries_pending = statuses.get("pending", 0)
            result.deliveries_failed = statuses.get("failed", 0)
            succeeded: dict[str, datetime] = {
                str(d): at
                for d, at in (
                    await conn.execute(
                        text(
                            "SELECT delivery_id, min(started_at) FROM delivery.attempts"
                            " WHERE delivery_id = ANY(:ids) AND outcome = 'sent' GROUP BY 1"
                        ),
                        {"ids": list(expected)},
                    )
                ).all()
            }
            unknown = {
                str(d)
                for d in await conn.scalars(
                    text(
                        "SELECT DISTINCT delivery_id FROM delivery.attempts"
                        " WHERE delivery_id = ANY(:ids) AND outcome = 'unknown'"
                    ),
                    {"ids": list(expected)},
                )
            }
            result.unknown_outcomes = len(unknown)
            receipts = Counter(
                str(d)
                for d in await conn.scalars(
                    text("SELECT properties->>'delivery_id' FROM profile.timeline WHERE type = 'message.sent'")
                )
            )
            arm = await conn.scalar(text("SELECT coalesce(sum(successes + failures), 0) FROM router.arm_stats"))
            result.arm_counts = float(arm or 0.0)
    finally:
        await engine.dispose()

    accepted_calls: dict[str, list[ReceivedMessage]] = {}
    for call in calls:
        if call.provider != "fcm" or call.status != 200:
            continue
        key = str(call.payload.get("message", {}).get("android", {}).get("collapse_key", ""))
        accepted_calls.setdefault(key, []).append(call)
    wanted = {str(d) for d in expected}
    lost = sorted(wanted - set(accepted_calls))
    result.lost = len(lost)
    _example(result, "lost", lost)
    doubled = [d for d in wanted if len(accepted_calls.get(d, [])) > 1]
    result.double_sends = len(doubled)
    result.double_sends_explained = sum(1 for d in doubled if d in unknown)
    _example(result, "double sends", [d for d in doubled if d not in unknown])
    late = [
        d for d in wanted if d in succeeded and any(c.received_at > succeeded[d] for c in accepted_calls.get(d, []))
    ]
    result.calls_after_success = len(late)
    _example(result, "calls after success", late)
    sent = {d for d in wanted if d in succeeded}
    result.receipts_missing = len(sent - set(receipts))
    result.receipts_doubled = sum(1 for d in sent if receipts[d] > 1)
    result.dead_letters = await dead_letters(bootstrap)
    return result


def _example(result: Audit, what: str, ids: list[str]) -> None:
    if ids:
        result.examples[what] = ids[:5]


async def dead_letters(bootstrap: str) -> int:
    """Records on every stage's dead-letter topic."""
    settings = KafkaSettings(bootstrap=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        existing = await consumer.topics()
        partitions = [
            TopicPartition(name, p)
            for stage in STAGES
            if (name := settings.topic(dlq_topic(stage))) in existing
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        if not partitions:
            return 0
        ends = await consumer.end_offsets(partitions)
        begins = await consumer.beginning_offsets(partitions)
        return sum(ends[tp] - begins[tp] for tp in partitions)
    finally:
        await consumer.stop()
