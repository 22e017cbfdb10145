"""`metaconnect demo`: demo data for the dev stack."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from metaconnect_cli import demo, home_builder, learning
from metaconnect_cli.client import DEFAULT_STATE_FILE
from metaconnect_cli.commands.common import JsonOption, fail, say
from metaconnect_cli.demo_stack import DemoError, resolve_target
from metaconnect_common.schemas.profiled import Colour

app = typer.Typer(help="Demo data for the dev stack: simulated customers and their traffic.", no_args_is_help=True)


class Scenario(StrEnum):
    COLOURS = "colours"
    HOME_BUILDER = "home-builder"


@app.command("traffic")
def demo_traffic(
    scenario: Annotated[
        Scenario,
        typer.Option(
            help="colours: customers of hidden colours open the app and the router learns their tones. "
            "home-builder: customers walk the home builder's lifecycle and journeys, lead to aftercare "
            "(examples/home-builder), with time compressed (--day)."
        ),
    ] = Scenario.COLOURS,
    day: Annotated[float, typer.Option(min=0.1, help="home-builder: seconds a day of the story takes.")] = 1.0,
    customers: Annotated[int, typer.Option(min=1, help="Simulated customers (hidden colours).")] = 100,
    events: Annotated[int, typer.Option(min=0, help="app.opened events to post.")] = 1000,
    rate: Annotated[float, typer.Option(min=0.1, help="Events per second.")] = 50.0,
    settle: Annotated[float, typer.Option(min=0, help="Stop once deliveries were quiet this many seconds.")] = 15.0,
    timeout: Annotated[float, typer.Option(min=1, help="Stop after this many seconds at the latest.")] = 600.0,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same customers and draws.")] = 1,
    state_file: Annotated[Path, typer.Option(help="The dev stack's state.")] = DEFAULT_STATE_FILE,
    ingest_url: Annotated[str | None, typer.Option(help="Ingest URL (default: the dev stack's).")] = None,
    profile_url: Annotated[str | None, typer.Option(help="Profile service URL (default: the dev stack's).")] = None,
    router_url: Annotated[str | None, typer.Option(help="Router URL (default: the dev stack's).")] = None,
    api_key: Annotated[str | None, typer.Option(help="Channel API key (default: the dev stack's).")] = None,
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap (default: the dev stack's).")] = None,
    token: Annotated[str | None, typer.Option(help="Editor or admin token (default: the dev stack's).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Simulated customers answer the colour form, open the app and answer deliveries; the router learns.
    With `--scenario home-builder` they walk a home builder's lifecycle and journeys instead."""
    flags = {"ingest_url": ingest_url, "profile_url": profile_url, "router_url": router_url}
    flags |= {"api_key": api_key, "kafka": kafka, "token": token}
    if scenario is Scenario.HOME_BUILDER:
        try:
            story = asyncio.run(
                home_builder.run_scenario(resolve_target(state_file, **flags), customers, day, seed, say)
            )
        except DemoError as exc:
            fail(exc, code=exc.exit_code)
        if as_json:
            typer.echo(json.dumps({"stages": story.stages, "journeys": story.journeys}, indent=2))
            return
        for line in story.lines():
            typer.echo(line)
        return
    plan = demo.TrafficPlan(
        customers=customers, events=events, rate=rate, settle_s=settle, timeout_s=timeout, seed=seed
    )
    try:
        summary = asyncio.run(demo.run_traffic(resolve_target(state_file, **flags), plan, say))
    except DemoError as exc:
        fail(exc, code=exc.exit_code)
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
        return
    for line in summary.lines():
        typer.echo(line)


@app.command("questionnaire")
def demo_questionnaire(
    colour: Annotated[Colour, typer.Option(help="The colour the answers score.", case_sensitive=False)],
    customer_id: Annotated[str, typer.Option(help="Whose answers: the event's customer_id.")],
) -> None:
    """Print a questionnaire.submitted event whose colour-form answers (colours24) score one colour.

    Post it to ingest's /v1/events (curl -d @file) to give a test customer a known colour; the
    profile service scores it only with the customer's profiling_questionnaire consent.
    """
    if colour is Colour.UNKNOWN:
        fail("choose red, yellow, green or blue", code=2)
    event = {
        "customer": {"customer_id": customer_id},
        "type": "questionnaire.submitted",
        "channel": "in_app",
        "properties": {"instrument": "colours24", "answers": demo.colour_answers(colour)},
    }
    typer.echo(json.dumps(event))


@app.command("learning")
def demo_learning(
    seeds: Annotated[int, typer.Option(min=1, help="Seeds 0 .. seeds - 1, each a new population.")] = 3,
    events: Annotated[int, typer.Option(min=1, help="Events per seed and policy.")] = 20_000,
    customers: Annotated[int, typer.Option(min=1, help="Simulated customers per seed.")] = 2000,
    block: Annotated[int, typer.Option(min=1, help="Events per block of the matched-tone share.")] = 10_000,
    base_rate: Annotated[float, typer.Option(min=0.001, max=0.5, help="Engagement with a mismatched tone.")] = 0.05,
    matched_lift: Annotated[float, typer.Option(min=1.0, max=2.0, help="The matched tone's lift.")] = 1.3,
    ipip_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share answering the IPIP-50.")] = 0.2,
    colour_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share answering the colour form.")] = 0.4,
    holdout_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share held out.")] = 0.1,
    policy: Annotated[
        list[str] | None,
        typer.Option(help=f"Policies to compare (repeat): {', '.join(learning.POLICIES_BY_NAME)}."),
    ] = None,
) -> None:
    """Offline, nothing sent: how the router learns tones from realistic customers.

    Customers with hidden personalities answer the questionnaires (or not), the profile's own code
    estimates their pattern, and the router's own decision code learns from simulated receipts.
    Production ranking, ranking without the personality prior and plain Thompson sampling run on
    the same customers and draws. Takes about 0.25 ms per event and policy.
    """
    names = policy or [p.name for p in learning.POLICIES]
    unknown = [n for n in names if n not in learning.POLICIES_BY_NAME]
    if unknown:
        fail(f"unknown policy {', '.join(unknown)}; choose from {', '.join(learning.POLICIES_BY_NAME)}", code=2)
    result = learning.report(
        seeds,
        events,
        customers=customers,
        block=block,
        response=learning.Response(base_rate=base_rate, matched_lift=matched_lift),
        ipip_share=ipip_share,
        colour_share=colour_share,
        holdout_share=holdout_share,
        policies=[learning.POLICIES_BY_NAME[n] for n in names],
    )
    for line in result.lines():
        typer.echo(line)
