"""Status callbacks and webhooks the sandbox sends back, like the providers do: best-effort, in the background."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from metaconnect_sandbox.faults import Provider
from metaconnect_sandbox.recording import Recorder


@dataclass(frozen=True)
class Callback:
    """One signed POST owed to a client: a Twilio status callback or a WhatsApp status webhook."""

    provider: Provider
    url: str
    event: str
    message_id: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class StatusNotifier:
    """Posts callbacks in order, each after `delay_s`, and records every attempt; never raises.

    `start()` creates the HTTP client (from the app's lifespan), `stop()` cancels what is left.
    """

    def __init__(self, recorder: Recorder, *, timeout_s: float, delay_s: float) -> None:
        self._recorder = recorder
        self._timeout_s = timeout_s
        self._delay_s = delay_s
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def send(self, callbacks: Sequence[Callback]) -> None:
        """Post `callbacks` one after the other, in a background task."""
        if not callbacks:
            return
        task = asyncio.create_task(self._send_in_order(callbacks))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_in_order(self, callbacks: Sequence[Callback]) -> None:
        for callback in callbacks:
            # The provider answers the send first; its callbacks come a little later.
            await asyncio.sleep(self._delay_s)
            await self._post(callback)

    async def _post(self, callback: Callback) -> None:
        status_code: int | None = None
        error: str | None = None
        if self._client is None:
            error = "sandbox is not running"
        else:
            try:
                response = await self._client.post(callback.url, content=callback.body, headers=callback.headers)
                status_code = response.status_code
            except Exception as exc:  # best-effort: whatever goes wrong is recorded, never raised
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self._recorder.add_callback(
            callback.provider,
            url=callback.url,
            event=callback.event,
            message_id=callback.message_id,
            status_code=status_code,
            error=error,
        )
