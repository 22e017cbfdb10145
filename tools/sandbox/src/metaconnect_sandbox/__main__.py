"""`python -m metaconnect_sandbox`: the sandbox on fixed ports until SIGTERM or Ctrl+C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Sequence
from pathlib import Path

from metaconnect_sandbox.config import SandboxConfig
from metaconnect_sandbox.server import Sandbox

log = logging.getLogger("metaconnect_sandbox")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metaconnect_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface for both servers (default: loopback)")
    parser.add_argument("--port", type=int, default=8025, help="HTTP port (fake providers, control API, page)")
    parser.add_argument("--smtp-port", type=int, default=2525, help="SMTP port")
    parser.add_argument("--config", type=Path, help="a JSON file of SandboxConfig fields (defaults otherwise)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = SandboxConfig.model_validate_json(args.config.read_text()) if args.config else SandboxConfig()
    asyncio.run(run(config, host=args.host, port=args.port, smtp_port=args.smtp_port))
    return 0


async def run(config: SandboxConfig, *, host: str, port: int, smtp_port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Sandbox(config, host=host, http_port=port, smtp_port=smtp_port) as sandbox:
        log.info("sandbox page and fake providers on %s, SMTP on %s:%d", sandbox.http_url, host, sandbox.smtp_port)
        await stop.wait()
        log.info("stopping")


if __name__ == "__main__":
    raise SystemExit(main())
