"""Load a stack with what a console at scale shows: many customers with long timelines, many routes.

A few hundred customers go through the real pipeline first (their profiles, identities,
consent, personality and timelines are what the services wrote). Each is then a template:
PostgreSQL copies them into `customers` new customers, each with its own identifiers (the
template's, made unique) and `timeline_per_customer` timeline entries taken from its
template's, spread back in time. Routes are written through the router's API, as marketing
ops would (`routes` of them, versions included).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench._harness import log

SEED_TAG = "seeded"


async def clone_customers(database_url: str, *, customers: int, timeline_per_customer: int) -> dict[str, float]:
    """Copy every customer the pipeline profiled into `customers` new ones; returns timings."""
    started = time.monotonic()
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL statement_timeout = 0"))
            templates = (await conn.execute(text("SELECT count(*) FROM profile.customers"))).scalar_one()
            if not templates:
                raise RuntimeError("no profiled customer to copy: post traffic first")
            await conn.execute(
                text(
                    """
                    CREATE TEMP TABLE seeded ON COMMIT DROP AS
                    SELECT g AS n, gen_random_uuid() AS id, t.id AS template
                    FROM generate_series(1, :n) AS g
                    JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM profile.customers) AS t
                      ON t.i = g % :templates
                    """
                ),
                {"n": customers, "templates": templates},
            )
            await conn.execute(
                text(
                    """
                    INSERT INTO profile.customers (id, created_at, updated_at, merged_into, erased_at,
                        lifecycle_stage, locale, time_zone, holdout, traits, consent, engagement, active_hours,
                        app_seen_at, personality)
                    SELECT s.id, c.created_at, c.updated_at, NULL, NULL, c.lifecycle_stage, c.locale, c.time_zone,
                        c.holdout, c.traits, c.consent, c.engagement, c.active_hours, c.app_seen_at, c.personality
                    FROM seeded s JOIN profile.customers c ON c.id = s.template
                    """
                )
            )
            await conn.execute(
                text(
                    """
                    INSERT INTO profile.identities (kind, value, customer_id, created_at)
                    SELECT i.kind,
                        CASE WHEN i.kind = 'email' THEN 'customer' || s.n || '@' || :tag || '.example.com'
                            ELSE i.value || '-' || :tag || s.n END,
                        s.id, i.created_at
                    FROM seeded s JOIN profile.identities i ON i.customer_id = s.template
                    WHERE i.kind <> 'metaconnect'
                    """
                ),
                {"tag": SEED_TAG},
            )
            copied = time.monotonic()
            await conn.execute(
                text(
                    """
                    CREATE TEMP TABLE template_timeline ON COMMIT DROP AS
                    SELECT customer_id, occurred_at, received_at, type, channel, source, properties,
                        row_number() OVER (PARTITION BY customer_id ORDER BY occurred_at) AS rn,
                        count(*) OVER (PARTITION BY customer_id) AS entries
                    FROM profile.timeline
                    """
                )
            )
            await conn.execute(text("CREATE INDEX ON template_timeline (customer_id, rn)"))
            await conn.execute(
                text(
                    """
                    INSERT INTO profile.timeline (event_id, customer_id, occurred_at, received_at, type, channel,
                        source, properties)
                    SELECT gen_random_uuid(), s.id,
                        e.occurred_at - make_interval(days => k / 3, mins => (s.n % 1440)),
                        e.received_at - make_interval(days => k / 3, mins => (s.n % 1440)),
                        e.type, e.channel, e.source, e.properties
                    FROM seeded s
                    CROSS JOIN generate_series(0, :per - 1) AS k
                    JOIN LATERAL (
                        SELECT * FROM template_timeline t
                        WHERE t.customer_id = s.template AND t.rn = 1 + k % t.entries
                    ) AS e ON true
                    """
                ),
                {"per": timeline_per_customer},
            )
        async with engine.connect() as conn:
            await conn.execute(text("COMMIT"))
            for table in ("customers", "identities", "timeline"):
                await conn.execute(text(f"ANALYZE profile.{table}"))
    finally:
        await engine.dispose()
    done = time.monotonic()
    log(f"seeded {customers:,} customers ({copied - started:.0f}s) and their timelines ({done - copied:.0f}s)")
    return {"customers_s": copied - started, "timeline_s": done - copied}


def seeded_email(n: int) -> str:
    """The e-mail address the seeding gave the `n`th new customer."""
    return f"customer{n}@{SEED_TAG}.example.com"


async def sample_customer_ids(database_url: str, count: int) -> list[str]:
    """Ids of `count` customers, drawn at random."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT id FROM profile.customers ORDER BY random() LIMIT :n"), {"n": count})
            return [str(row[0]) for row in rows]
    finally:
        await engine.dispose()


def route_spec(number: int) -> dict[str, Any]:
    """A marketing route with five tones on two channels, as marketing ops write them."""
    tones = ("neutral", "red", "yellow", "green", "blue")
    variants = {
        tone: {
            "push": {"en": {"title": f"Offer {number}", "body": f"{tone.title()} news number {number}."}},
            "email": {"en": {"subject": f"Offer {number}", "body": f"Hello, {tone} news number {number}."}},
        }
        for tone in tones
    }
    return {
        "name": f"offer-{number:03d}",
        "description": f"Offer {number}, in five tones",
        "status": "paused" if number % 7 == 0 else "active",
        "trigger": {"event_types": [f"offer.type_{number % 20}"]},
        "messages": [
            {
                "id": "offer",
                "priority": 50,
                "category": "marketing",
                "channels": ["push", "email"],
                "variants": variants,
            }
        ],
        "policy": {"channel_order": ["push", "email"]},
    }


async def put_routes(router_url: str, token: str, count: int, *, concurrency: int = 8) -> None:
    """Write `count` routes through the router's API (a few twice, so they have versions)."""
    headers = {"Authorization": f"Bearer {token}"}
    queue = list(range(1, count + 1)) + list(range(1, count + 1, 10))
    async with httpx.AsyncClient(base_url=router_url, headers=headers, timeout=30) as client:

        async def worker() -> None:
            while queue:
                number = queue.pop()
                spec = route_spec(number)
                response = await client.put(f"/v1/routes/{spec['name']}", json=spec)
                if response.status_code not in (200, 201):
                    raise RuntimeError(f"route {spec['name']}: {response.status_code} {response.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    log(f"{count} routes written")
