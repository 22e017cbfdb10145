"""The provider sandbox for the dev mode: how to run it, and the delivery providers pointed at it.

Every channel the delivery service sends on goes to the sandbox, with the sandbox's own
default credentials (`SandboxConfig`), so a dev stack never reaches a real provider.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from metaconnect_common.schemas import Channel
from metaconnect_sandbox.config import SandboxConfig

SANDBOX_PORT = 8025
SANDBOX_SMTP_PORT = 2525
SANDBOX_PACKAGE = "metaconnect_sandbox"

# The Graph API version the delivery service's WhatsApp base URL ends in.
WHATSAPP_GRAPH_VERSION = "v21.0"
# The sandbox accepts any template name; a real account needs it approved by Meta.
WHATSAPP_TEMPLATE = "metaconnect_update"
EMAIL_SENDER = "dev@metaconnect.test"
# The sandbox receives webhooks under `/webhook/<name>`.
WEBHOOK_RECEIVER = "metaconnect-dev"


def sandbox_command(*, port: int, smtp_port: int, config: Path | None = None) -> list[str]:
    """`python -m metaconnect_sandbox` on loopback (with `config`, a SandboxConfig JSON file)."""
    return [
        sys.executable,
        "-m",
        SANDBOX_PACKAGE,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--smtp-port",
        str(smtp_port),
        *(["--config", str(config)] if config is not None else []),
    ]


def ingest_webhook_env() -> dict[str, str]:
    """Ingest checks the sandbox's callbacks with the sandbox's (development-only) secrets."""
    config = SandboxConfig()
    return {
        "MC_INGEST_TWILIO_AUTH_TOKEN": config.twilio_auth_token.get_secret_value(),
        "MC_INGEST_WHATSAPP_APP_SECRET": config.whatsapp_app_secret.get_secret_value(),
    }


def sandbox_config(ingest_url: str | None) -> dict[str, Any]:
    """The sandbox's settings for the dev stack: WhatsApp status webhooks to ingest."""
    return {"whatsapp_webhook_url": f"{ingest_url}/v1/webhooks/whatsapp"} if ingest_url else {}


def sandbox_providers(
    sandbox_url: str, smtp_port: int, *, twilio_status_callback_url: str | None = None
) -> list[dict[str, Any]]:
    """`MC_DELIVERY_PROVIDERS` for the dev stack: push, SMS, WhatsApp, e-mail and webhooks to the sandbox.

    Holds the sandbox's (development-only) secrets in clear: pass it to the delivery
    process's environment, never print it.
    """
    config = SandboxConfig()
    return [
        {
            "name": "sandbox-fcm",
            "kind": "fcm",
            "channel": Channel.PUSH.value,
            "base_url": f"{sandbox_url}/fcm",
            "account": config.fcm_project_id,
            "secret": config.fcm_access_token.get_secret_value(),
        },
        {
            "name": "sandbox-twilio",
            "kind": "twilio",
            "channel": Channel.SMS.value,
            "base_url": f"{sandbox_url}/twilio",
            "account": config.twilio_account_sid,
            "sender": config.twilio_service_number,
            "secret": config.twilio_auth_token.get_secret_value(),
            "status_callback_url": twilio_status_callback_url,
        },
        {
            "name": "sandbox-whatsapp",
            "kind": "whatsapp",
            "channel": Channel.WHATSAPP.value,
            "base_url": f"{sandbox_url}/whatsapp/{WHATSAPP_GRAPH_VERSION}",
            "account": config.whatsapp_phone_number_id,
            "secret": config.whatsapp_access_token.get_secret_value(),
            "template": WHATSAPP_TEMPLATE,
        },
        {
            "name": "sandbox-smtp",
            "kind": "smtp",
            "channel": Channel.EMAIL.value,
            "base_url": f"smtp://127.0.0.1:{smtp_port}",
            "sender": EMAIL_SENDER,
        },
        {
            # No secret: the sandbox checks signatures only for receivers named in its config.
            "name": "sandbox-webhook",
            "kind": "webhook",
            "channel": Channel.WEBHOOK.value,
            "base_url": f"{sandbox_url}/webhook/{WEBHOOK_RECEIVER}",
        },
    ]
