"""How fast the console's pages answer with a production-sized data set.

    uv run python bench/console.py                         # 100,000 customers, 1,000,000 timeline entries, 200 routes
    uv run python bench/console.py --customers 10000 --requests 100

Starts real Kafka and PostgreSQL, the four services and the console as processes
(`bench/_pipeline.py`), sends a few hundred customers through the real pipeline, copies them
into `--customers` customers with `--timeline` timeline entries each and writes `--routes`
routes through the router's API (`bench/_console_seed.py`). Then it signs in with a one-time
link and requests each main page `--requests` times, one at a time, with a different customer
or route each time where the page has one.

Printed per page: the console's own time (`Server-Timing`, what the issue's "server time"
means) p50/p95/p99 and the client's; beside it the floor measured in the same run: the one
service call the page cannot do without (the same customer, route or report straight from the
owning service, with an operator token), and the ratio. Target: every page p95 <= 300 ms.
One JSON line at the end. Exit code 0 whatever the figures; 2 when something did not start.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench._*` from `python bench/console.py`

import httpx

from bench._console_seed import clone_customers, put_routes, route_spec, sample_customer_ids, seeded_email
from bench._harness import default_workdir, log, run_loop, run_main
from bench._measure import num, print_json_line
from bench._pipeline import Process, Stack
from bench._traffic import Poster, at_rate, customers
from metaconnect_cli.dev import console_sign_in_url
from metaconnect_cli.local._proc import free_port
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.migrations import upgrade
from metaconnect_common.settings import AuthSettings

TARGET_P95_MS = 300.0
TEMPLATES = 300  # customers sent through the real pipeline, then copied


@dataclass
class Page:
    """A page, how to pick its next URL, and the service call it rests on (the floor)."""

    name: str
    path: Callable[[random.Random], str]
    floor: Callable[[random.Random], tuple[str, str]]  # (service, path)
    console_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    failures: int = 0


@dataclass
class Result:
    customers: int
    timeline: int
    routes: int
    seed_s: dict[str, float]
    pages: list[Page]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def pages(customer_ids: list[str], opts: argparse.Namespace) -> list[Page]:
    def email(rng: random.Random) -> str:
        return quote("email:" + seeded_email(rng.randrange(1, opts.customers + 1)))

    def route(rng: random.Random) -> str:
        return str(route_spec(rng.randrange(1, opts.routes + 1))["name"])

    return [
        Page("start", lambda rng: "/", lambda rng: ("console", "/healthz")),
        Page("routes", lambda rng: "/routes", lambda rng: ("router", "/v1/routes")),
        Page("route", lambda rng: f"/routes/{route(rng)}", lambda rng: ("router", f"/v1/routes/{route(rng)}")),
        # Finding one customer answers with the way to their page (303).
        Page(
            "customer search",
            lambda rng: f"/customers?q={email(rng)}",
            lambda rng: ("profile", f"/v1/profiles/{email(rng)}"),
        ),
        Page(
            "customer",
            lambda rng: f"/customers/{rng.choice(customer_ids)}",
            lambda rng: ("profile", f"/v1/profiles/{rng.choice(customer_ids)}/timeline"),
        ),
        Page("reports", lambda rng: "/reports", lambda rng: ("router", "/v1/reports/decisions")),
        Page("api keys", lambda rng: "/admin/keys", lambda rng: ("ingest", "/v1/api-keys")),
        Page("providers", lambda rng: "/admin/providers", lambda rng: ("delivery", "/v1/providers")),
    ]


async def measure_async(opts: argparse.Namespace) -> Result:
    async with Stack(opts.workdir, log_level="WARNING") as stack:
        people = customers(TEMPLATES, tag="console", questionnaire_share=0.5)
        poster = Poster(stack.urls("ingest"), stack.api_key)
        try:
            await at_rate(poster, people, 300)
        finally:
            await poster.close()
        await _until_profiled(stack, len(people))
        seed_s = await clone_customers(
            stack.database_url, customers=opts.customers, timeline_per_customer=opts.timeline
        )
        admin = issue_token(AuthSettings(), subject="bench@metaconnect", role=Role.ADMIN)
        started = time.monotonic()
        await put_routes(stack.services["router"].url, admin, opts.routes)
        seed_s["routes_s"] = time.monotonic() - started
        console = await _start_console(stack)
        try:
            measured = pages(await sample_customer_ids(stack.database_url, 1000), opts)
            await _measure_pages(stack, console, measured, admin, opts)
        finally:
            console.stop()
        return Result(opts.customers, opts.customers * opts.timeline, opts.routes, seed_s, measured)


async def _until_profiled(stack: Stack, expected: int, timeout_s: float = 300) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(stack.database_url)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                count = (await conn.execute(text("SELECT count(*) FROM profile.customers"))).scalar_one()
            if count >= expected:
                log(f"{count} customers profiled by the pipeline")
                return
            await asyncio.sleep(1)
    finally:
        await engine.dispose()
    raise TimeoutError("the pipeline did not profile the template customers")


async def _start_console(stack: Stack) -> Process:
    await asyncio.to_thread(upgrade, "metaconnect_console", stack.database_url)
    port = free_port()
    env = {
        "MC_ENV": "test",
        "MC_DATABASE_URL": stack.database_url,
        "MC_LOG_JSON": "false",
        "MC_LOG_LEVEL": "WARNING",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        "MC_CONSOLE_HOST": "127.0.0.1",
        "MC_CONSOLE_PORT": str(port),
        "MC_CONSOLE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MC_CONSOLE_DEV_SIGN_IN": "true",
    }
    for name in ("ingest", "profile", "router", "delivery"):
        env[f"MC_CONSOLE_{name.upper()}_URL"] = stack.services[name].url
    console = Process("console", port, stack.logs / "console.log", env, module="metaconnect_console")
    console.start()
    await console.ready()
    return console


async def _measure_pages(
    stack: Stack, console: Process, measured: list[Page], admin: str, opts: argparse.Namespace
) -> None:
    rng = random.Random(opts.seed)
    bases = {name: stack.services[name].url for name in ("ingest", "profile", "router", "delivery")}
    bases["console"] = console.url
    async with (
        httpx.AsyncClient(base_url=console.url, timeout=30) as browser,
        httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {admin}"}) as api,
    ):
        signed_in = await browser.get(console_sign_in_url(console.url, AuthSettings()), follow_redirects=True)
        if signed_in.status_code != 200:
            raise RuntimeError(f"sign-in failed: {signed_in.status_code}")
        for page in measured:
            for warm in range(opts.warmup + opts.requests):
                started = time.perf_counter()
                response = await browser.get(page.path(rng))
                client_ms = (time.perf_counter() - started) * 1000
                if warm < opts.warmup:
                    continue
                if response.status_code not in (200, 303):
                    page.failures += 1
                    continue
                page.client_ms.append(client_ms)
                timing = response.headers.get("server-timing", "")
                page.console_ms.append(float(timing.split("dur=", 1)[1]) if "dur=" in timing else client_ms)
            for _ in range(opts.requests):
                service, path = page.floor(rng)
                started = time.perf_counter()
                floor = await api.get(f"{bases[service]}{path}")
                if floor.status_code == 200:
                    page.floor_ms.append((time.perf_counter() - started) * 1000)
            log(f"{page.name}: p95 {pct(page.console_ms, 0.95) or 0:.1f} ms ({page.failures} failed)")


def measure(opts: argparse.Namespace) -> Result:
    return run_loop(measure_async(opts))


def report(result: Result, elapsed_s: float) -> int:
    print()
    print(
        f"Console pages with {result.customers:,} customers, {result.timeline:,} timeline entries, "
        f"{result.routes} routes (seeded in {sum(result.seed_s.values()):.0f} s)"
    )
    print(
        f"{'page':<16} {'n':>5} {'console p50':>12} {'p95':>7} {'p99':>7} {'client p95':>11} "
        f"{'floor p95':>10} {'ratio':>6} {'failed':>7}  target p95 <= {TARGET_P95_MS:.0f} ms"
    )
    fields: dict[str, Any] = {"customers": result.customers, "timeline": result.timeline, "routes": result.routes}
    for page in result.pages:
        p95, floor95 = pct(page.console_ms, 0.95), pct(page.floor_ms, 0.95)
        ratio = p95 / floor95 if p95 is not None and floor95 else None
        mark = "" if p95 is not None and p95 <= TARGET_P95_MS else "  MISSED"
        print(
            f"{page.name:<16} {len(page.console_ms):>5} {num(pct(page.console_ms, 0.5), 12, ',.1f')} "
            f"{num(p95, 7, ',.1f')} {num(pct(page.console_ms, 0.99), 7, ',.1f')} "
            f"{num(pct(page.client_ms, 0.95), 11, ',.1f')} {num(floor95, 10, ',.1f')} "
            f"{num(ratio, 6, ',.2f')} {page.failures:>7}{mark}"
        )
        key = page.name.replace(" ", "_")
        fields[f"{key}_p50_ms"] = pct(page.console_ms, 0.5)
        fields[f"{key}_p95_ms"] = p95
        fields[f"{key}_floor_p95_ms"] = floor95
        fields[f"{key}_failed"] = page.failures
    fields["seed_s"] = result.seed_s
    fields["mean_console_ms"] = statistics.fmean(v for p in result.pages for v in p.console_ms)
    print_json_line("console", elapsed_s, fields)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--timeline", type=int, default=10, help="timeline entries per customer")
    parser.add_argument("--routes", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per page")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep-data", action="store_true")
    opts = parser.parse_args()
    default_workdir(opts, "console")
    return run_main(opts, lambda: measure(opts), report)


if __name__ == "__main__":
    raise SystemExit(main())
