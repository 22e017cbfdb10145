"""One provider call, traced and measured, and what several calls (one per device token) add up to."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from metaconnect_delivery import metrics
from metaconnect_delivery.providers.base import Outgoing, Provider, SendResult, Verdict

tracer = trace.get_tracer("metaconnect.delivery")


@dataclass(frozen=True)
class Tried:
    """One call (or a channel skipped without one): its result, time and, for push, the token's SHA-256."""

    result: SendResult
    elapsed_ms: float = 0.0
    token: str | None = None
    provider: str | None = None


def token_hash(token: str) -> str:
    """How attempts, receipts and the schedule name a device token: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def combine(tried: Sequence[Tried]) -> SendResult:
    """One delivery-level result of several calls (one per device token): sent when any token took
    it, permanent when every token refused it for good, else worth retrying (the longest
    `Retry-After` asked)."""
    results = [t.result for t in tried]
    sent = [r for r in results if r.verdict is Verdict.SENT]
    if sent:
        return sent[0]
    retry = [r for r in results if r.verdict is Verdict.RETRY]
    if not retry:
        return results[-1]
    asked = [r.retry_after_s for r in retry if r.retry_after_s is not None]
    return replace(retry[-1], retry_after_s=max(asked) if asked else None)


def rounds(tried: Sequence[Tried]) -> int:
    """The attempts these entries make on a channel: a round's calls to several device tokens are one
    attempt, like one call; an interrupted call taken over after a crash is one of its own."""
    return sum(1 for t in tried if t.token is None) + (1 if any(t.token for t in tried) else 0)


def outcome_of(result: SendResult) -> str:
    if result.response.get("skipped"):
        return "skipped"
    if result.unknown:
        return "unknown"
    return result.verdict.value


async def traced_send(provider: Provider, outgoing: Outgoing, attempt: int) -> tuple[SendResult, float]:
    """One provider call as a CLIENT span of the delivery's trace (no address, no secret on it)."""
    with tracer.start_as_current_span(
        f"send {provider.channel.value}",
        kind=SpanKind.CLIENT,
        attributes={
            "metaconnect.provider": provider.name,
            "metaconnect.channel": provider.channel.value,
            "metaconnect.delivery_id": outgoing.delivery_id,
            "metaconnect.attempt": attempt,
            **server_attributes(provider),
        },
    ) as span:
        started = time.perf_counter()
        result = await provider.send(outgoing)
        elapsed = time.perf_counter() - started
        elapsed_ms = elapsed * 1000
        metrics.PROVIDER_SECONDS.labels(provider.channel.value, provider.name, result.verdict.value).observe(elapsed)
        span.set_attribute("metaconnect.outcome", result.verdict.value)
        span.set_attribute("metaconnect.reason", result.reason)
        if result.status_code is not None:
            span.set_attribute("http.response.status_code", result.status_code)
        if result.verdict is not Verdict.SENT:
            span.set_status(Status(StatusCode.ERROR, result.reason))
        return result, elapsed_ms


def server_attributes(provider: Provider) -> dict[str, str | int]:
    """Semantic-convention attributes of the provider's endpoint (host and port, never the path,
    which can name an account)."""
    url = urlsplit(provider.settings.base_url)
    attributes: dict[str, str | int] = {"server.address": url.hostname or "", "url.scheme": url.scheme}
    if url.port:
        attributes["server.port"] = url.port
    if url.scheme in ("http", "https"):
        attributes["http.request.method"] = "POST"
    return attributes


def skipped(reason: str) -> SendResult:
    return SendResult(Verdict.PERMANENT, reason, response={"skipped": True})


def accepted() -> SendResult:
    return SendResult(Verdict.SENT, "stored")
