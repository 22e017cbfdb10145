"""Scripted answers: errors, rate limits and delays, consumed one per request, per provider."""

from __future__ import annotations

from collections import deque
from typing import Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

Provider = Literal["fcm", "twilio", "whatsapp", "webhook", "smtp"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)


class Fault(BaseModel):
    """One scripted answer.

    HTTP providers: `status` (an error in the provider's own body shape; `Retry-After` when
    `retry_after` is set) and/or `delay_s` (sleep first, then answer: normally if no `status`).
    SMTP: `smtp_code` answered at DATA, and/or `delay_s`.
    """

    model_config = ConfigDict(extra="forbid")

    status: int | None = Field(None, ge=400, le=599)
    retry_after: int | None = Field(None, ge=0, description="seconds, sent as the Retry-After header")
    delay_s: float | None = Field(None, gt=0, le=300)
    smtp_code: int | None = Field(None, ge=400, le=599)
    # The provider's own error code instead of the one usual for `status`
    # (FCM errorCode, Twilio code, WhatsApp code).
    error_code: int | str | None = None
    message: str | None = None

    @model_validator(mode="after")
    def _does_something(self) -> Self:
        if self.status is None and self.delay_s is None and self.smtp_code is None:
            raise ValueError("a fault needs status, smtp_code or delay_s")
        return self


class FaultScript(BaseModel):
    """`POST /_sandbox/faults`: answers queued for the next requests to `provider`, in order."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider
    responses: list[Fault] = Field(min_length=1)

    @model_validator(mode="after")
    def _fits_provider(self) -> Self:
        for i, fault in enumerate(self.responses):
            if self.provider == "smtp" and (fault.status is not None or fault.retry_after is not None):
                raise ValueError(f"responses[{i}]: SMTP faults take smtp_code and delay_s, not status/retry_after")
            if self.provider != "smtp" and fault.smtp_code is not None:
                raise ValueError(f"responses[{i}]: smtp_code is for provider 'smtp' only")
        return self


class FaultQueues:
    """The scripted answers still to give, per provider."""

    def __init__(self) -> None:
        self._queues: dict[Provider, deque[Fault]] = {}

    def add(self, script: FaultScript) -> None:
        self._queues.setdefault(script.provider, deque()).extend(script.responses)

    def take(self, provider: Provider) -> Fault | None:
        queue = self._queues.get(provider)
        return queue.popleft() if queue else None

    def pending(self) -> dict[Provider, list[Fault]]:
        return {provider: list(queue) for provider, queue in self._queues.items() if queue}

    def clear(self, provider: Provider | None = None) -> None:
        if provider is None:
            self._queues.clear()
        else:
            self._queues.pop(provider, None)
