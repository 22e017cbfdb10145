"""Traffic for the pipeline: customers, what each of them does, and posting it to ingest.

Every customer is new and does one visit, posted as one batch request in order:

1. `consent.changed` — marketing by push granted (every event carries the customer's id,
   device token and e-mail);
2. for `questionnaire_share` of them: questionnaire consent and a colour form
   (`questionnaire.submitted`, answers drawn from hidden axes as `metaconnect_cli.personas` does);
3. `product.viewed` at a price under 20 (no route's condition holds: no decision);
4. `product.viewed` at 49, `wishlist.added`, `cart.updated` — three marketing messages that
   bundle into one push;
5. `page.viewed` (no route);
6. `order.confirmed` — the transactional push.

So every customer expects four decisions and, without faults, two pushes: the order and one
digest of three items. Posting retries a batch with the same event ids after a 503, a
timeout or a refused connection, as a channel app should (`event_id` is the idempotency key).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from metaconnect_cli.personas import colours24_answers

DECISIONS_PER_CUSTOMER = 4
PUSHES_PER_CUSTOMER = 2
MARKETING_TYPES = ("product.viewed", "wishlist.added", "cart.updated")


@dataclass(frozen=True)
class Customer:
    customer_id: str
    token: str
    email: str
    questionnaire: bool

    @property
    def who(self) -> dict[str, str]:
        return {"customer_id": self.customer_id, "device_token": self.token, "email": self.email}


def customers(count: int, *, tag: str, questionnaire_share: float = 0.3, seed: int = 1) -> list[Customer]:
    rng = np.random.default_rng(seed)
    return [
        Customer(
            customer_id=f"{tag}-{n}",
            token=f"device-{tag}-{n}-{uuid.uuid4().hex[:8]}",
            email=f"{tag}-{n}@shop.example.com",
            questionnaire=bool(rng.random() < questionnaire_share),
        )
        for n in range(count)
    ]


def visit(customer: Customer, rng: np.random.Generator) -> list[dict[str, Any]]:
    """The customer's events, in the order they happen."""
    now = datetime.now(UTC).isoformat()

    def event(type_: str, channel: str = "web", **properties: Any) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "customer": customer.who,
            "type": type_,
            "channel": channel,
            "occurred_at": now,
            "properties": properties,
        }

    sku = f"sku-{int(rng.integers(1000, 9999))}"
    events = [event("consent.changed", purpose="marketing", granted=True, channel="push")]
    if customer.questionnaire:
        dominance, warmth = (float(v) for v in rng.standard_normal(2))
        events += [
            event("consent.changed", purpose="profiling_questionnaire", granted=True),
            event(
                "questionnaire.submitted",
                "in_app",
                instrument="colours24",
                answers=colours24_answers(dominance, warmth, rng),
            ),
        ]
    events += [
        event("product.viewed", sku="sku-cheap", price=9),
        event("product.viewed", sku=sku, price=49),
        event("wishlist.added", sku=sku),
        event("cart.updated", sku=sku, items=1, value=49),
        event("page.viewed", path="/checkout"),
        event("order.confirmed", "in_app", order=f"A-{uuid.uuid4().hex[:8]}", total=49),
    ]
    return events


@dataclass
class Posted:
    """What ingest accepted, and when (wall clock, as the sandbox records arrivals)."""

    events: int = 0
    requests: int = 0
    retries: int = 0
    accepted_at: dict[str, float] = field(default_factory=dict)  # event id -> time of the 202
    orders: dict[str, float] = field(default_factory=dict)  # device token -> the order's 202
    types: dict[str, str] = field(default_factory=dict)  # event id -> its type as the routes see it


class Poster:
    """Posts batches to ingest's batch API, retrying each until it is accepted."""

    def __init__(self, ingest_urls: list[str], api_key: str, *, patience_s: float = 600.0) -> None:
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self._urls = itertools.cycle([f"{url}/v1/events/batch" for url in ingest_urls])  # replicas in turn
        self.patience_s = patience_s
        self.posted = Posted()

    async def close(self) -> None:
        await self._client.aclose()

    async def post(self, batch: list[dict[str, Any]], orders: dict[str, str]) -> None:
        """POST until a 202 (same ids every time); `orders` maps an event id to the token whose order it is."""
        deadline = time.monotonic() + self.patience_s
        while True:
            self.posted.requests += 1
            try:
                response = await self._client.post(next(self._urls), json={"events": batch})
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 202:
                break
            if response is not None and response.status_code not in (429, 500, 502, 503, 504):
                raise RuntimeError(f"ingest refused a batch: {response.status_code} {response.text[:500]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"ingest did not accept a batch within {self.patience_s}s")
            self.posted.retries += 1
            wait = float(response.headers.get("retry-after", 0.5)) if response is not None else 0.5
            await asyncio.sleep(min(wait, 2.0))
        at = time.time()
        body = response.json()
        if body.get("rejected"):
            raise RuntimeError(f"ingest rejected events: {body['rejected'][:3]}")
        types = {e["event_id"]: routed_type(e) for e in batch}
        for event_id in body["accepted"]:
            self.posted.accepted_at[event_id] = at
            self.posted.types[event_id] = types[event_id]
            token = orders.get(event_id)
            if token is not None:
                self.posted.orders[token] = at
        self.posted.events += len(body["accepted"])


def routed_type(event: dict[str, Any]) -> str:
    """The event's type, `product.viewed.cheap` when no route's price condition holds."""
    if event["type"] == "product.viewed" and event["properties"].get("price", 0) < 20:
        return "product.viewed.cheap"
    return str(event["type"])


def order_ids(batch: list[dict[str, Any]]) -> dict[str, str]:
    return {e["event_id"]: e["customer"]["device_token"] for e in batch if e["type"] == "order.confirmed"}


async def at_rate(poster: Poster, people: Iterable[Customer], rate: float, *, seed: int = 1) -> float:
    """Post each customer's visit as one request, paced so events go at `rate` per second on
    average (open loop: a slow answer does not slow the offered rate). Returns the seconds it took."""
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    sent = 0
    tasks: set[asyncio.Task[None]] = set()
    for customer in people:
        batch = visit(customer, rng)
        delay = started + sent / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(poster.post(batch, order_ids(batch)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += len(batch)
    if tasks:
        await asyncio.gather(*list(tasks))
    return time.monotonic() - started


async def flat_out(
    poster: Poster, people: list[Customer], *, per_request: int = 40, concurrency: int = 4, seed: int = 1
) -> float:
    """Post visits as fast as ingest takes them: `per_request` customers per batch request,
    `concurrency` requests in flight. Returns the seconds it took."""
    rng = np.random.default_rng(seed)
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for start in range(0, len(people), per_request):
        queue.put_nowait([e for c in people[start : start + per_request] for e in visit(c, rng)])

    async def worker() -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            await poster.post(batch, order_ids(batch))

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - started


async def steady(poster: Poster, rate: float, *, until: Callable[[], bool], tag: str, seed: int = 1) -> float:
    """New customers' visits at `rate` events/s (open loop) until `until()` holds after a visit.
    Returns the seconds it took."""

    def new_customers() -> Iterator[Customer]:
        n = 0
        while not until():
            yield from customers(1, tag=f"{tag}-{n}", seed=seed + n)
            n += 1

    return await at_rate(poster, new_customers(), rate, seed=seed)
