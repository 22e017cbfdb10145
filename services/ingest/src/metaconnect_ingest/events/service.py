"""Turn posted events into interactions and put them on `mc.interactions.v1`."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter, ValidationError

from metaconnect_common.errors import ApiError, FieldError, field_errors, invalid_request
from metaconnect_common.kafka.producer import BrokerUnavailable, KafkaPublisher, OutgoingRecord
from metaconnect_common.schemas import Interaction, InteractionFields
from metaconnect_common.storable import NUL_ESCAPE, unstorable
from metaconnect_common.topics import INTERACTIONS
from metaconnect_ingest import metrics
from metaconnect_ingest.events.schemas import BatchIn, ValidBatch
from metaconnect_ingest.keys.ratelimit import RateLimiter
from metaconnect_ingest.keys.service import Principal

_fields = TypeAdapter(InteractionFields)
_valid_batch = TypeAdapter(ValidBatch)
_batch_shape = TypeAdapter(BatchIn)


def parse_event(body: bytes) -> InteractionFields:
    """One posted event, validated straight from the bytes; ApiError 400/413/422 naming the fields."""
    try:
        fields = _fields.validate_json(body)
    except ValidationError as exc:
        raise invalid_request(field_errors(exc.errors(), strip=())) from None
    # Numbers are checked with `properties`, the only place an event holds them; U+0000 can sit in
    # any string, and is looked for only when the body spells it.
    if NUL_ESCAPE in body:
        bad = unstorable(json.loads(body))
        if bad:
            raise invalid_request(bad)
    return fields


def parse_batch(body: bytes) -> list[InteractionFields | list[FieldError]]:
    """Each posted event, validated, or the errors that make it invalid.

    The common case, a batch without a bad event, is validated in one pass straight from
    the bytes; otherwise the body is parsed and every event validated on its own. A body
    that is not JSON or not `{"events": [1..1000 items]}` fails the whole batch.
    """
    if NUL_ESCAPE not in body:  # U+0000 sends the batch down the per-event path, which names it
        try:
            return list(_valid_batch.validate_json(body).events)
        except ValidationError:
            pass
    try:
        raw = json.loads(body)
    except ValueError:
        raise ApiError(
            400,
            "malformed_json",
            "request body is not valid JSON",
            errors=[FieldError(field="body", rule="json_invalid", message="not valid JSON")],
        ) from None
    try:
        shape = _batch_shape.validate_python(raw)
    except ValidationError as exc:
        raise invalid_request(field_errors(exc.errors(), strip=())) from None
    out: list[InteractionFields | list[FieldError]] = []
    for item in shape.events:
        bad = unstorable(item)
        if bad:
            out.append(bad)
            continue
        try:
            out.append(_fields.validate_python(item))
        except ValidationError as exc:
            out.append(field_errors(exc.errors(), strip=()))
    return out


@dataclass(frozen=True)
class Window:
    """How far `occurred_at` may lie from the time of receipt."""

    max_future: timedelta
    max_age: timedelta


def check_event(fields: InteractionFields, principal: Principal, now: datetime, window: Window) -> list[FieldError]:
    """Scope and time rules a valid event may still break (pure)."""
    errors = []
    if not principal.allows_channel(fields.channel.value):
        errors.append(FieldError(field="channel", rule="key_scope", message="this API key may not post here"))
    if not principal.allows_type(fields.type):
        errors.append(FieldError(field="type", rule="key_scope", message="this API key may not post this event type"))
    if fields.occurred_at is not None:
        if fields.occurred_at > now + window.max_future:
            errors.append(
                FieldError(
                    field="occurred_at",
                    rule="timestamp_future",
                    message=f"more than {int(window.max_future.total_seconds())}s in the future",
                )
            )
        elif fields.occurred_at < now - window.max_age:
            errors.append(
                FieldError(
                    field="occurred_at",
                    rule="timestamp_too_old",
                    message=f"more than {int(window.max_age.total_seconds())}s in the past",
                )
            )
    return errors


def to_interaction(fields: InteractionFields, principal: Principal, now: datetime) -> Interaction:
    # `fields` is validated already; validating the same values again would double the cost.
    return Interaction.model_construct(
        event_id=fields.event_id or uuid.uuid4(),
        customer=fields.customer,
        type=fields.type,
        channel=fields.channel,
        occurred_at=fields.occurred_at or now,
        received_at=now,
        source=principal.key_id,
        properties=fields.properties,
    )


def to_record(interaction: Interaction) -> OutgoingRecord:
    return OutgoingRecord(
        topic=INTERACTIONS,
        key=interaction.kafka_key(),
        value=interaction.model_dump_json().encode(),
        headers=[("mc.event_id", str(interaction.event_id).encode()), ("mc.schema_version", b"1")],
    )


class EventService:
    def __init__(self, publisher: KafkaPublisher, limiter: RateLimiter, *, window: Window, retry_after_s: int) -> None:
        self._publisher = publisher
        self._limiter = limiter
        self._window = window
        self._retry_after_s = retry_after_s

    def _rate_limit(self, principal: Principal, n: int) -> None:
        wait = self._limiter.take(principal.key_id, n, rate_per_s=principal.rate_per_s, burst=principal.burst)
        if wait == 0.0:
            return
        metrics.EVENTS.labels("api", "rate_limited").inc(n)
        if math.isinf(wait):
            raise ApiError(
                429,
                "rate_limited",
                f"{n} events exceed this key's burst of {principal.burst}; send smaller batches",
                headers={"Retry-After": str(max(1, math.ceil(principal.burst / principal.rate_per_s)))},
            )
        raise ApiError(
            429,
            "rate_limited",
            f"this key may post {principal.rate_per_s:g} events/s",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )

    async def publish(self, interactions: Sequence[Interaction], *, source: str = "api") -> None:
        """Write `interactions` to `mc.interactions.v1`; returns once Kafka acknowledged them all.

        ApiError 503 (with `Retry-After`) when it did not in time: the caller retries with the same ids.
        `source` (api, twilio, whatsapp) labels the events' count.
        """
        try:
            await self._publisher.publish([to_record(i) for i in interactions])
            metrics.EVENTS.labels(source, "accepted").inc(len(interactions))
        except BrokerUnavailable:
            metrics.EVENTS.labels(source, "unavailable").inc(len(interactions))
            raise ApiError(
                503,
                "broker_unavailable",
                "events could not be stored; retry with the same event ids",
                headers={"Retry-After": str(self._retry_after_s)},
            ) from None

    async def ingest_one(self, fields: InteractionFields, principal: Principal) -> Interaction:
        now = datetime.now(UTC)
        errors = check_event(fields, principal, now, self._window)
        if errors:
            metrics.EVENTS.labels("api", "rejected").inc()
            scope = all(e.rule == "key_scope" for e in errors)
            raise ApiError(
                403 if scope else 422,
                "forbidden" if scope else "validation_failed",
                "outside this API key's scope" if scope else "request failed validation",
                errors=errors,
            )
        self._rate_limit(principal, 1)
        interaction = to_interaction(fields, principal, now)
        await self.publish([interaction])
        return interaction

    async def ingest_batch(
        self, body: bytes, principal: Principal
    ) -> tuple[list[tuple[int, Interaction]], list[tuple[int, list[FieldError]]]]:
        """Accept the valid events, report the rest by index (partial acceptance)."""
        now = datetime.now(UTC)
        accepted: list[tuple[int, Interaction]] = []
        rejected: list[tuple[int, list[FieldError]]] = []
        first_of: dict[uuid.UUID, int] = {}  # each accepted event id, by the index that posted it
        for index, item in enumerate(parse_batch(body)):
            if isinstance(item, list):
                rejected.append((index, item))
                continue
            fields = item
            errors = check_event(fields, principal, now, self._window)
            first = first_of.get(fields.event_id) if fields.event_id is not None else None
            if first is not None:
                # Downstream would apply one and drop the other silently: say so here.
                errors.append(
                    FieldError(
                        field="event_id",
                        rule="duplicate_event_id",
                        message=f"the event at index {first} has the same event_id and was accepted",
                    )
                )
            if errors:
                rejected.append((index, errors))
            else:
                if fields.event_id is not None:
                    first_of[fields.event_id] = index
                accepted.append((index, to_interaction(fields, principal, now)))
        if rejected:
            metrics.EVENTS.labels("api", "rejected").inc(len(rejected))
        if accepted:
            self._rate_limit(principal, len(accepted))
            await self.publish([i for _, i in accepted])
        return accepted, rejected
