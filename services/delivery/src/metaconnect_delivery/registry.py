"""The configured providers by channel, each with its circuit breaker and rate limit (per process)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from metaconnect_common.schemas import Channel
from metaconnect_delivery.config import DeliverySettings, ProviderSettings
from metaconnect_delivery.providers.base import Provider
from metaconnect_delivery.providers.http import Fcm, Twilio, Webhook, WhatsApp
from metaconnect_delivery.providers.smtp import Smtp
from metaconnect_delivery.reliability import CircuitBreaker, TokenBucket


@dataclass
class Route:
    """A provider with the state guarding it."""

    provider: Provider
    circuit: CircuitBreaker
    bucket: TokenBucket


def build(settings: ProviderSettings, client: httpx.AsyncClient) -> Provider:
    match settings.kind:
        case "fcm":
            return Fcm(settings, client)
        case "twilio":
            return Twilio(settings, client)
        case "whatsapp":
            return WhatsApp(settings, client)
        case "webhook":
            return Webhook(settings, client)
        case "smtp":
            return Smtp(settings)


class Registry:
    def __init__(self, settings: DeliverySettings, client: httpx.AsyncClient) -> None:
        self._by_channel: dict[Channel, Route] = {}
        for provider in settings.providers:
            # The first provider configured for a channel serves it.
            self._by_channel.setdefault(
                provider.channel,
                Route(
                    build(provider, client),
                    CircuitBreaker(failure_threshold=settings.circuit_failures, open_s=settings.circuit_open_s),
                    TokenBucket(provider.rate_per_s, provider.burst),
                ),
            )

    def for_channel(self, channel: Channel) -> Route | None:
        return self._by_channel.get(channel)

    def routes(self) -> dict[Channel, Route]:
        return dict(self._by_channel)
