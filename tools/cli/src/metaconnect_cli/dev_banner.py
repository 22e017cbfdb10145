"""What `metaconnect dev` prints once everything is ready: URLs, credentials, a curl to paste."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from sqlalchemy.engine import make_url

from metaconnect_cli.client import DevState

DEMO_KEY_NAME = "demo-app"
WELCOME_ROUTE = "welcome"  # examples/routes/welcome.yaml
# The README's first event: a sign-up with an e-mail address, which the example route
# `welcome` answers at once with an e-mail the sandbox shows.
DEMO_EVENT = {
    "customer": {"customer_id": "c-1042", "email": "ada@example.com"},
    "type": "customer.created",
    "channel": "in_app",
}


def render_banner(
    state: DevState,
    *,
    kafka: str,
    postgres: str,
    state_file: Path,
    log_dir: Path,
    routes: tuple[Path, list[tuple[str, list[str]]]] | None = None,
) -> str:
    """The banner; `kafka` and `postgres` say where those run (embedded, external); `routes`, the
    route files loaded at start: their directory, and each route's name and trigger event types."""
    lines = ["", "Metaconnect is running (development mode).", ""]
    for name, url in state.services.items():
        if name == "console":
            lines.append(f"  {name:<11} {url}/    (pages for people: sign in with the link below)")
        else:
            lines.append(f"  {name:<11} {url}    API docs: {url}/docs")
    lines.append(f"  {'Kafka':<11} {state.kafka_bootstrap}    ({kafka})")
    shown_db = make_url(state.database_url).render_as_string(hide_password=True)
    lines.append(f"  {'PostgreSQL':<11} {shown_db}    ({postgres})")
    if state.sandbox_url:
        lines.append(f"  {'sandbox':<11} {state.sandbox_url}    (fake FCM, Twilio, WhatsApp and webhook receiver)")
        lines.append(f"  {'SMTP':<11} {state.sandbox_smtp}    (the sandbox's mail server)")
    lines.append("")
    if state.console_sign_in_url:
        lines += [
            "Open the console (a one-time sign-in link, as admin; `metaconnect tokens sign-in-link` makes another):"
        ]
        lines += [f"  {state.console_sign_in_url}", ""]
    lines += ["Operator token (admin, 24 h):", f"  {state.operator_token}", ""]
    if routes is not None:
        folder, loaded = routes
        width = max(len(name) for name, _ in loaded)
        lines.append(f"Example routes from {folder} (change them, then `uv run metaconnect routes apply {folder}`):")
        lines += [f"  {name:<{width}}  on {', '.join(types)}" for name, types in loaded]
        lines.append("")
    if state.api_key:
        lines += [f"Demo channel API key ({DEMO_KEY_NAME}):", f"  {state.api_key}", ""]
        welcomes = routes is not None and any(name == WELCOME_ROUTE for name, _ in routes[1])
        lines.append(
            "Post an event (a sign-up: the welcome route e-mails it to the sandbox):" if welcomes else "Post an event:"
        )
        lines += [f"  {_curl(state.ingest_url, state.api_key)}", ""]
    if state.sandbox_url:
        lines += ["Delivery sends every channel to the provider sandbox. What it received:"]
        lines += [f"  {state.sandbox_url}/", "  uv run metaconnect sandbox tail --follow", ""]
    lines.append(f"State in {state_file}, logs in {log_dir}. Ctrl-C stops everything.")
    return "\n".join(lines)


def _curl(ingest_url: str, api_key: str) -> str:
    payload = json.dumps(DEMO_EVENT, separators=(",", ":"))
    return shlex.join(
        [
            "curl",
            "-sS",
            "-X",
            "POST",
            f"{ingest_url}/v1/events",
            "-H",
            f"Authorization: Bearer {api_key}",
            "-H",
            "Content-Type: application/json",
            "-d",
            payload,
        ]
    )
