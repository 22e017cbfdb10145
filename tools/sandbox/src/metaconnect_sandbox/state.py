"""Everything the fake providers share while the sandbox runs, and how a request answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from metaconnect_sandbox.callbacks import Callback, StatusNotifier
from metaconnect_sandbox.config import SandboxConfig
from metaconnect_sandbox.faults import Fault, FaultQueues, Provider
from metaconnect_sandbox.recording import Recorder


@dataclass
class SandboxState:
    config: SandboxConfig
    recorder: Recorder
    faults: FaultQueues
    notifier: StatusNotifier
    fcm_unregistered: set[str]

    @classmethod
    def create(cls, config: SandboxConfig) -> SandboxState:
        recorder = Recorder(config.max_recorded)
        notifier = StatusNotifier(recorder, timeout_s=config.callback_timeout_s, delay_s=config.callback_delay_s)
        return cls(config, recorder, FaultQueues(), notifier, set(config.fcm_unregistered_tokens))

    def reset(self) -> None:
        """Forget what was received, scripted and registered at runtime (callbacks under way still go out)."""
        self.recorder.clear()
        self.faults.clear()
        self.fcm_unregistered.clear()
        self.fcm_unregistered.update(self.config.fcm_unregistered_tokens)


def sandbox_state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


StateDep = Annotated[SandboxState, Depends(sandbox_state)]


@dataclass
class ProviderAnswer:
    """What a fake provider answers a request, before any scripted fault, and what to record."""

    status: int
    body: dict[str, Any]
    to: list[str]
    payload: Any
    auth_ok: bool
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    message_id: str | None = None
    signature: str | None = None
    title: str | None = None
    text: str | None = None
    # Sent once the request has been answered successfully (status callbacks, webhooks).
    callbacks: Sequence[Callback] = ()


async def answer(
    state: SandboxState,
    request: Request,
    provider: Provider,
    verdict: ProviderAnswer,
    fault_body: Callable[[Fault], dict[str, Any]],
) -> JSONResponse:
    """Record the request, then answer it: as scripted if a fault is queued, else with `verdict`.

    A delay-only fault still answers normally (and sends callbacks) after sleeping: as a real
    provider would, whose answer the client gave up waiting for.
    """
    fault = state.faults.take(provider)
    message = state.recorder.add(
        provider,
        path=request.url.path,
        to=verdict.to,
        payload=verdict.payload,
        auth_ok=verdict.auth_ok,
        headers=request.headers,
    )
    message.fault = fault
    message.signature = verdict.signature
    message.title = verdict.title
    message.text = verdict.text
    if fault is not None and fault.delay_s is not None:
        await asyncio.sleep(fault.delay_s)
    if fault is not None and fault.status is not None:
        message.status = fault.status
        message.error = fault.message or "scripted fault"
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        return JSONResponse(fault_body(fault), status_code=fault.status, headers=headers)
    message.status = verdict.status
    message.error = verdict.error
    message.message_id = verdict.message_id
    if verdict.status < 300:
        state.notifier.send(verdict.callbacks)
    return JSONResponse(verdict.body, status_code=verdict.status, headers=verdict.headers or None)
