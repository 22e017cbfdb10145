"""Running the sandbox in-process: the HTTP app under uvicorn and the SMTP server, on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Self

import uvicorn
from fastapi import FastAPI

from metaconnect_sandbox.app import create_app
from metaconnect_sandbox.config import SandboxConfig
from metaconnect_sandbox.faults import Provider
from metaconnect_sandbox.recording import ReceivedMessage
from metaconnect_sandbox.smtp import start_smtp
from metaconnect_sandbox.state import SandboxState


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the program embedding it decides when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on `host:port` (0: a free port, known before anything connects)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # An explicit protocol: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP, and without it every response waits ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@asynccontextmanager
async def serving(app: FastAPI, *, host: str = "127.0.0.1", port: int = 0, graceful_s: int = 1) -> AsyncIterator[str]:
    """Serve `app` under uvicorn in a task of the running loop; yields its base URL.

    Requests still running `graceful_s` after the stop (a scripted delay, a long poll) are cancelled.
    """
    sock = bind(host, port)
    # Keep-alive longer than clients keep idle connections (httpx: 5 s), as providers do: a client
    # never reuses a connection the server has just closed (a ReadError on the next request).
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=graceful_s,
        timeout_keep_alive=75,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError(f"HTTP server on {host}:{port} stopped while starting")
            await asyncio.sleep(0.01)
        yield f"http://{_host_in_url(host)}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class Sandbox:
    """The fake providers over real sockets, in this process and event loop.

    `async with Sandbox(config) as sb:` then send to `sb.base_urls["twilio"]` (or `sb.http_url`
    plus a prefix) and mail to `127.0.0.1:sb.smtp_port`; read what arrived with
    `sb.messages(...)` or over the control API. Ports default to free ones.
    """

    def __init__(
        self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", http_port: int = 0, smtp_port: int = 0
    ) -> None:
        self.config = config or SandboxConfig()
        self.app = create_app(self.config)
        self.state: SandboxState = self.app.state.sandbox
        self._host = host
        self._http_port = http_port
        self._smtp_port = smtp_port
        self._http_url: str | None = None
        self._smtp_bound: int | None = None
        self._stack = AsyncExitStack()

    @property
    def http_url(self) -> str:
        if self._http_url is None:
            raise RuntimeError("the sandbox is not running")
        return self._http_url

    @property
    def smtp_port(self) -> int:
        if self._smtp_bound is None:
            raise RuntimeError("the sandbox is not running")
        return self._smtp_bound

    @property
    def base_urls(self) -> dict[str, str]:
        """What to configure instead of each provider's real base URL."""
        return {
            "fcm": f"{self.http_url}/fcm",  # instead of https://fcm.googleapis.com
            "twilio": f"{self.http_url}/twilio",  # instead of https://api.twilio.com
            "whatsapp": f"{self.http_url}/whatsapp",  # instead of https://graph.facebook.com
            "webhook": f"{self.http_url}/webhook",
        }

    def messages(self, provider: Provider | None = None, to: str | None = None) -> list[ReceivedMessage]:
        return self.state.recorder.messages(provider, to)

    def reset(self) -> None:
        """Back to a fresh sandbox, so tests can share one (starting and stopping takes ~0.3 s)."""
        self.state.reset()

    async def __aenter__(self) -> Self:
        try:
            self._http_url = await self._stack.enter_async_context(
                serving(self.app, host=self._host, port=self._http_port)
            )
            sock = self._stack.enter_context(contextlib.closing(bind(self._host, self._smtp_port)))
            smtp = await start_smtp(self.state, sock)
            self._stack.push_async_callback(_close, smtp)
            self._smtp_bound = sock.getsockname()[1]
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        self._http_url = None
        self._smtp_bound = None
        await self._stack.aclose()


async def _close(server: asyncio.Server) -> None:
    server.close()
    # From Python 3.12 this also waits for open client connections: give them a moment only.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), timeout=1.0)


def _host_in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host
