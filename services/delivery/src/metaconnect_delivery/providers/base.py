"""One interface for every provider, and how an answer is judged.

A provider call ends in one of three verdicts: `SENT` (the provider took the message),
`RETRY` (worth trying again later: timeouts, refused connections, 408, 429, 5xx) or
`PERMANENT` (this message will never go through this provider: 4xx, an invalid address).
`counts_against_provider` says whether the answer tells something about the provider's
health (its circuit breaker counts it) or only about this one message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import Contact
from metaconnect_delivery.reliability import retry_after_seconds

if TYPE_CHECKING:
    from metaconnect_delivery.config import ProviderSettings


class Verdict(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class SendResult:
    verdict: Verdict
    reason: str
    """A short code for attempts and receipts: `accepted`, `http_503`, `timeout`, `no_address`, ..."""
    status_code: int | None = None
    provider_message_id: str | None = None
    retry_after_s: float | None = None
    response: Mapping[str, Any] = field(default_factory=dict)
    """What the provider answered, for the attempt row: ids and error codes, never secrets or addresses."""
    counts_against_provider: bool = False
    address_invalid: bool = False
    """The provider says the address reaches no one (unregistered token, no such number or mailbox):
    reported as a hard `message.bounced`, so the profile stops counting the address reachable."""
    unknown: bool = False
    """The request went out and no answer came (a read timeout): it may have been sent. Retried with
    the same idempotency key, recorded as outcome `unknown`."""


@dataclass(frozen=True)
class Outgoing:
    """One rendered message on its way to one customer (or, a notification, to staff) through one provider."""

    delivery_id: str
    customer_id: str
    contact: Contact
    message: Any
    """The channel's rendered message (`rendering.render`)."""
    recipients: tuple[str, ...] = ()
    """E-mail only, a notification to staff: these addresses (one message to all) instead of the contact's."""


class Provider(Protocol):
    name: str
    channel: Channel
    settings: ProviderSettings

    async def send(self, outgoing: Outgoing) -> SendResult: ...


def judge_http(response: httpx.Response, *, summary: Mapping[str, Any], message_id: str | None = None) -> SendResult:
    """The verdict on an HTTP provider's answer (`summary`: what of its body the attempt keeps)."""
    status = response.status_code
    retry_after = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
    if 200 <= status < 300:
        return SendResult(Verdict.SENT, "accepted", status, message_id, response=summary)
    if status in (408, 429) or status >= 500:
        return SendResult(
            Verdict.RETRY,
            f"http_{status}",
            status,
            retry_after_s=retry_after,
            response=summary,
            counts_against_provider=status != 429,  # a rate limit is not an outage
        )
    # 401/403: our credentials are wrong for every message: the provider is unusable.
    return SendResult(
        Verdict.PERMANENT, f"http_{status}", status, response=summary, counts_against_provider=status in (401, 403)
    )


async def call(
    client: httpx.AsyncClient, request: httpx.Request, *, auth: httpx.Auth | None = None
) -> httpx.Response | SendResult:
    """Send `request` (built with its provider's timeout); a transport failure becomes a RETRY
    result, counted against the provider."""
    try:
        return await client.send(request, auth=auth)
    except httpx.ReadTimeout:  # written, unanswered: the provider may have taken it
        return SendResult(Verdict.RETRY, "timeout", counts_against_provider=True, unknown=True)
    except httpx.TimeoutException:
        reason = "timeout"
    except httpx.ConnectError:
        reason = "connection_refused"
    except httpx.TransportError as exc:
        reason = f"transport_{type(exc).__name__}"[:63]
    return SendResult(Verdict.RETRY, reason, counts_against_provider=True)


def no_address(channel: Channel) -> SendResult:
    """The customer has no address for the channel: fail over, nothing to retry."""
    return SendResult(Verdict.PERMANENT, f"no_{channel.value}_address")


def json_summary(response: httpx.Response, *keys: str) -> dict[str, Any]:
    """Selected top-level keys of a JSON body (errors and ids), nothing else."""
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    return {k: body[k] for k in keys if k in body}
