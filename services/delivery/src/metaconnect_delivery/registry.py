"""The providers by channel, each with its circuit breaker and rate limit (per process).

Providers come from `MC_DELIVERY_PROVIDERS` and from those stored over REST (a stored one
replaces a configured one of the same name), read again every `providers_refresh_s`. Of
several enabled providers for one channel the lowest `priority` (then name) serves. A
provider whose settings did not change keeps its circuit and rate-limit state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.schemas import Channel
from metaconnect_delivery import metrics
from metaconnect_delivery.config import DeliverySettings, ProviderSettings
from metaconnect_delivery.providers import store
from metaconnect_delivery.providers.base import Provider
from metaconnect_delivery.providers.http import Fcm, Twilio, Webhook, WhatsApp
from metaconnect_delivery.providers.smtp import Smtp
from metaconnect_delivery.reliability import CircuitBreaker, TokenBucket

log = logging.getLogger(__name__)


@dataclass
class GuardedProvider:
    """A provider with the state guarding it."""

    settings: ProviderSettings
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
        self._settings = settings
        self._client = client
        self._providers: dict[str, GuardedProvider] = {}
        self._by_channel: dict[Channel, GuardedProvider] = {}
        self._loaded_at = -1e9
        self._use(settings.providers)
        metrics.CIRCUITS.watch(self)

    def for_channel(self, channel: Channel) -> GuardedProvider | None:
        return self._by_channel.get(channel)

    def serving(self) -> list[str]:
        """The name of the provider serving each channel."""
        return [guarded.settings.name for guarded in self._by_channel.values()]

    def throttled(self, now: float) -> list[Channel]:
        """Channels whose provider is at its rate now: claiming their deliveries would only put
        them back (a transaction each) until a call may go."""
        return [channel for channel, guarded in self._by_channel.items() if guarded.bucket.tokens(now) < 1.0]

    def circuits(self) -> list[tuple[str, str, CircuitBreaker]]:
        """(channel, provider, circuit) of every provider in use, for the circuit-state gauge."""
        return [(r.provider.channel.value, r.provider.name, r.circuit) for r in self._providers.values()]

    async def refresh(self, sessions: async_sessionmaker[AsyncSession], *, force: bool = False) -> None:
        """Read the stored providers again when `providers_refresh_s` passed (or `force`).

        One read at a time: the attempts that find the providers due for a refresh while one is
        under way go on with those loaded (many attempts start at once under load)."""
        previous = self._loaded_at
        if not force and time.monotonic() - previous < self._settings.providers_refresh_s:
            return
        self._loaded_at = time.monotonic()
        fernet = store.cipher(self._settings)
        try:
            async with sessions() as session:
                rows = await store.stored(session)
        except BaseException:
            self._loaded_at = previous  # the next attempt tries again
            raise
        from_db: list[ProviderSettings] = []
        for row in rows:
            try:
                from_db.append(store.from_row(row, fernet))
            except store.SecretUnreadable:
                log.error("provider %s: its secret does not decrypt with MC_DELIVERY_SECRETS_KEY", row.name)
            except ValidationError as exc:  # stored before a rule it breaks (a file: URL, say)
                rules = sorted({str(e["type"]) for e in exc.errors()})
                log.error("provider %s: its stored settings break %s; PUT it again", row.name, ", ".join(rules))
        stored_names = {p.name for p in from_db}
        self._use([*(p for p in self._settings.providers if p.name not in stored_names), *from_db])
        self._loaded_at = time.monotonic()

    def _use(self, providers: Sequence[ProviderSettings]) -> None:
        providers_by_name: dict[str, GuardedProvider] = {}
        for settings in providers:
            known = self._providers.get(settings.name)
            if known is not None and known.settings == settings:
                providers_by_name[settings.name] = known
                continue
            channel = settings.channel.value  # its series from zero, so rates see the first increase
            metrics.RETRIES.labels(channel, settings.name)
            metrics.DELIVERIES.labels(channel, settings.name, "sent")
            providers_by_name[settings.name] = GuardedProvider(
                settings,
                build(settings, self._client),
                CircuitBreaker(failure_threshold=self._settings.circuit_failures, open_s=self._settings.circuit_open_s),
                TokenBucket(settings.rate_per_s, settings.burst),
            )
        by_channel: dict[Channel, GuardedProvider] = {}
        for guarded in sorted(providers_by_name.values(), key=lambda r: (r.settings.priority, r.settings.name)):
            if guarded.settings.enabled:
                by_channel.setdefault(guarded.settings.channel, guarded)
        self._providers, self._by_channel = providers_by_name, by_channel
