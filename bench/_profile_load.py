"""The load of `profile_service.py`: the interactions, their compute ceiling and the raw-consume floor.

The interactions are the records ingest writes, a realistic mix of event types over a set
of customers; `produce` puts them on `mc.interactions.v1`. `compute_ceiling` runs the
service's own domain code (`profiles.batch`) on them without any I/O. `floor_round` reads them with a
raw consumer group; `Run` holds the figures of a consumption, the floor's or the service's.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench._harness import log, service_producer
from bench._measure import CpuMeter
from metaconnect_common.schemas import Interaction
from metaconnect_common.topics import INTERACTIONS
from metaconnect_ingest.events.service import to_record

STEADY = (0.10, 0.90)  # the steady rate is measured between these shares of the events
# The event mix: type -> share of all events.
MIX: tuple[tuple[str, float], ...] = (
    ("app.opened", 0.33),
    ("message.delivered", 0.20),
    ("message.opened", 0.16),
    ("message.clicked", 0.08),
    ("consent.changed", 0.08),
    ("purchase.completed", 0.07),
    ("profile.updated", 0.08),
)
TONES = ("red", "yellow", "green", "blue")


# --------------------------------------------------------------------------- interactions


def _properties(kind: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """(channel, properties) of one event of this type."""
    message = f"m-{rng.randrange(1_000_000):06d}"
    match kind:
        case "app.opened":
            return "in_app", {"screen": rng.choice(("home", "offers", "cart", "account"))}
        case "message.delivered":
            return rng.choice(("email", "push", "sms")), {"message_id": message, "campaign": "spring-sale"}
        case "message.opened":
            return rng.choice(("email", "push")), {"message_id": message, "tone": rng.choice(TONES)}
        case "message.clicked":
            props = {"message_id": message, "tone": rng.choice(TONES), "link": "https://shop.example.com/offers"}
            return rng.choice(("email", "push")), props
        case "consent.changed":
            r = rng.random()
            if r < 0.60:
                return "web", {"purpose": "profiling_behaviour", "granted": True}
            if r < 0.85:
                return "web", {"purpose": "marketing", "granted": True}
            if r < 0.95:
                return "sms", {"purpose": "marketing", "granted": False, "channel": "sms"}
            return "web", {"purpose": "profiling_behaviour", "granted": False}
        case "purchase.completed":
            order = {
                "order_id": f"o-{rng.randrange(10**9)}",
                "amount": round(rng.uniform(5, 300), 2),
                "currency": "EUR",
            }
            return rng.choice(("web", "store")), order
        case "profile.updated":
            return "web", {
                "locale": rng.choice(("de-DE", "en-GB", "fr-FR")),
                "time_zone": rng.choice(("Europe/Berlin", "Europe/London", "Europe/Paris")),
                "traits": {"plan": rng.choice(("free", "plus", "gold"))},
            }
    raise ValueError(kind)


def make_interactions(count: int, customers: int, email_share: float, seed: int) -> list[Interaction]:
    """`count` interactions of `customers` customers (uniformly drawn), in time order.

    Every event names its customer by `customer_id` (so every record of a customer has the
    same key and partition, as a channel app sending its own ids does); for the first
    `email_share` of the customers half of the events also carry their e-mail address,
    so identities are attached on the way. No two customers share an identifier: no merges."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    source = str(uuid.UUID(int=rng.getrandbits(128), version=4))  # one API key id
    kinds = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=count)
    with_email = int(customers * email_share)
    out = []
    for n, kind in enumerate(kinds):
        c = rng.randrange(customers)
        ref: dict[str, str] = {"customer_id": f"bench-{c:06d}"}
        if c < with_email and rng.random() < 0.5:
            ref["email"] = f"customer.{c}@example.com"
        channel, properties = _properties(kind, rng)
        occurred = now - timedelta(milliseconds=5 * (count - n))
        out.append(
            Interaction.model_validate(
                {
                    "event_id": uuid.UUID(int=rng.getrandbits(128), version=4),
                    "customer": ref,
                    "type": kind,
                    "channel": channel,
                    "occurred_at": occurred,
                    "received_at": occurred + timedelta(milliseconds=rng.randrange(5, 300)),
                    "source": source,
                    "properties": properties,
                }
            )
        )
    return out


async def produce(bootstrap: str, interactions: Sequence[Interaction]) -> float:
    """Put the records on `mc.interactions.v1` as ingest does; returns seconds taken."""
    producer = service_producer(bootstrap)
    await producer.start()
    started = time.monotonic()
    try:
        for i in range(0, len(interactions), 5000):
            futures = []
            for interaction in interactions[i : i + 5000]:
                record = to_record(interaction)
                # What KafkaPublisher injects: the ingest request's trace context.
                traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01".encode()
                headers = [*record.headers, ("traceparent", traceparent)]
                futures.append(await producer.send(record.topic, record.value, key=record.key, headers=headers))
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.monotonic() - started


async def produce_paced(bootstrap: str, interactions: Sequence[Interaction], rate: float) -> float:
    """Put the records on `mc.interactions.v1` one by one at `rate` per second, as they arrive in
    production (not as a backlog); returns seconds taken, acknowledgements included."""
    producer = service_producer(bootstrap)
    await producer.start()
    started = time.monotonic()
    try:
        futures = []
        for n, interaction in enumerate(interactions):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            record = to_record(interaction)
            traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01".encode()
            headers = [*record.headers, ("traceparent", traceparent)]
            futures.append(await producer.send(record.topic, record.value, key=record.key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.monotonic() - started


# --------------------------------------------------------------------------- compute ceiling


@dataclass
class Compute:
    """CPU per event of the service's domain code alone, no I/O, one core: the ceiling of one process."""

    events: int
    us_per_event: float
    events_per_s: float
    parts_us: dict[str, float]


def compute_ceiling(interactions: Sequence[Interaction], count: int, batch: int = 166) -> Compute | None:
    """What `ProfileService.apply` computes per event, minus every database and Kafka call.

    The service's own code, in batches of `batch` records (a partition's share of a fetch):
    decode the records (`handlers.interaction_of`), resolve their customers and apply the
    rules (`batch.resolve_steps`), carry out the effects and build the rows and the
    `mc.profiled.v1` records (`batch.carry_out`). What the database would keep between batches
    (owners of identifiers, profiles, applied event ids) stays in dicts."""
    try:
        from metaconnect_common.kafka.records import ConsumedRecord
        from metaconnect_common.settings import CommonSettings
        from metaconnect_profile.config import ProfileSettings
        from metaconnect_profile.identity.keys import identifiers
        from metaconnect_profile.profiles import batch as applying
        from metaconnect_profile.profiles.handlers import interaction_of
        from metaconnect_profile.profiles.state import ProfilePolicy
    except ImportError as exc:  # the service's code moved: the figure is skipped, not the bench
        log(f"compute ceiling skipped: {exc!r}")
        return None
    policy = ProfilePolicy.from_settings(ProfileSettings(common=CommonSettings(env="test")))
    records = []
    for offset, interaction in enumerate(interactions[:count]):
        record = to_record(interaction)
        records.append(ConsumedRecord(record.topic, 0, offset, record.key, record.value, list(record.headers), 0))
    owners: dict[tuple[str, str], uuid.UUID] = {}
    profiles: dict[uuid.UUID, applying.Profile] = {}
    applied: set[uuid.UUID] = set()
    parts = dict.fromkeys(("decode", "resolve + rules", "effects + rows + records"), 0.0)
    clock = time.thread_time
    for start in range(0, len(records), batch):
        now = datetime.now(UTC)
        t0 = clock()
        items = [applying.TracedInteraction(interaction_of(r)) for r in records[start : start + batch]]
        t1 = clock()
        todo = applying.unseen(items, applied)
        wanted = {i for item in todo for i in identifiers(item.interaction.customer)}
        owner_of = {i: owners[i] for i in wanted if i in owners}
        touched = {o: profiles[o] for o in owner_of.values()}
        steps = applying.resolve_steps(todo, owner_of, touched, now=now, policy=policy)
        t2 = clock()
        changes = applying.carry_out(steps, touched, now=now, policy=policy)
        t3 = clock()
        # What the write and the next batch's read would do: remember owners, profiles, event ids.
        owners.update({(r["kind"], r["value"]): r["customer_id"] for r in changes.identities})
        for profile in touched.values():
            profile.new = False
        profiles.update(touched)
        applied.update(r["event_id"] for r in changes.processed)
        for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            parts[name] += seconds
    total = sum(parts.values())
    n = len(records)
    return Compute(
        events=n,
        us_per_event=round(1e6 * total / n, 1),
        events_per_s=round(n / total, 1) if total else 0.0,
        parts_us={name: round(1e6 * seconds / n, 1) for name, seconds in parts.items()},
    )


# --------------------------------------------------------------------------- measured runs


Mark = tuple[float, int]  # (seconds since the start, events done)


def steady_window(marks: Sequence[Mark], target: int) -> tuple[int, int] | None:
    """Indices of the marks bounding the steady part of a run.

    From the first mark at STEADY[0] of the target to the first at STEADY[1] of it, or to
    the last mark when the run was capped before. A run capped before even STEADY[0] of the
    target: from the first mark at STEADY[0] of what it did to its last mark."""
    if not marks:
        return None
    lo, hi = STEADY[0] * target, STEADY[1] * target
    if marks[-1][1] < lo:
        lo = STEADY[0] * marks[-1][1]
    i_lo = next((i for i, (_, n) in enumerate(marks) if n >= lo and n > 0), None)
    i_hi = next((i for i, (_, n) in enumerate(marks) if n >= hi), len(marks) - 1)
    if i_lo is None or i_hi <= i_lo:
        return None
    return i_lo, i_hi


@dataclass
class Run:
    """One consumption of the pre-produced events: the floor's or the service's."""

    name: str
    target: int
    events: int = 0
    done: bool = False
    seconds: float = 0.0  # from the start (spawn, or consumer start) to done, or to the cap
    events_per_s: float = 0.0  # events / seconds: start-up included
    first_s: float | None = None  # when the first event was seen done
    # Over the steady window (see `steady_window`).
    steady_from_s: float | None = None
    steady_seconds: float | None = None
    steady_events: int = 0
    steady_events_per_s: float | None = None
    # CPU over the steady window (% of one core; machine: all cores together) and per event.
    cpu: dict[str, float] = field(default_factory=dict)
    cpu_us_per_event: dict[str, float] = field(default_factory=dict)
    marks: list[Mark] = field(default_factory=list, repr=False)

    def finish(self, marks: list[Mark], seconds: float) -> tuple[int, int] | None:
        """Figures from the marks; returns the steady window's mark indices."""
        self.marks = marks
        self.events = marks[-1][1] if marks else 0
        self.done = self.events >= self.target
        self.seconds = round(seconds, 3)
        self.events_per_s = round(self.events / seconds, 1) if seconds > 0 else 0.0
        first = next((t for t, n in marks if n > 0), None)
        self.first_s = round(first, 3) if first is not None else None
        window = steady_window(marks, self.target)
        if window is not None:
            (t0, n0), (t1, n1) = marks[window[0]], marks[window[1]]
            self.steady_from_s = round(t0, 3)
            self.steady_seconds = round(t1 - t0, 3)
            self.steady_events = n1 - n0
            self.steady_events_per_s = round((n1 - n0) / (t1 - t0), 1) if t1 > t0 else None
        return window

    def charge(self, usage: dict[str, float], seconds: dict[str, float], events: int) -> None:
        self.cpu = usage
        if events > 0:
            self.cpu_us_per_event = {
                name: round(1e6 * seconds[name] / events, 1) for name in seconds if name not in ("machine", "other")
            }

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        del out["marks"]
        return out


async def floor_round(
    bootstrap: str, target: int, max_records: int, parse: str, cap_s: float, parties: dict[str, Callable[[], float]]
) -> Run:
    """A raw consumer group reads every record: getmany, parse, commit the batch's offsets."""
    run = Run(name="floor", target=target)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="metaconnect-bench-floor",
        group_id=f"bench-floor-{uuid.uuid4().hex[:12]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_records,  # as ConsumerRunner._make_consumer
    )
    decoders: dict[str, Callable[[bytes], object]] = {
        "none": bytes,
        "json": json.loads,
        "model": Interaction.model_validate_json,
    }
    decode = decoders[parse]
    meter = CpuMeter(parties)
    lo, hi = STEADY[0] * target, STEADY[1] * target
    marks: list[Mark] = []
    meter_from = 0
    started = time.monotonic()
    await consumer.start()
    try:
        consumer.subscribe([INTERACTIONS])
        done = 0
        while done < target and time.monotonic() - started < cap_s:
            batch: dict[Any, list[Any]] = await consumer.getmany(timeout_ms=1000, max_records=max_records)
            offsets = {}
            for tp, records in batch.items():
                for record in records:
                    decode(record.value)
                offsets[tp] = records[-1].offset + 1
                done += len(records)
            if offsets:
                await consumer.commit(offsets)
            marks.append((time.monotonic() - started, done))
            if not meter.started and done >= lo:
                meter.start()
                meter_from = done
            elif meter.started and not run.cpu and done >= hi:
                run.charge(*meter.stop(), done - meter_from)
        seconds = time.monotonic() - started
        if meter.started and not run.cpu:
            run.charge(*meter.stop(), done - meter_from)
    finally:
        await consumer.stop()
    run.finish(marks, seconds)
    return run
