"""Process plumbing shared by the local servers."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A loopback port nobody listens on right now, below the kernel's ephemeral range.

    A port the kernel hands out for `bind(0)` comes from the range it also gives every
    outgoing connection, so between this call and the server's bind a client (a Kafka or
    PostgreSQL connection of any process) may take it. Ports below that range are never
    taken that way; one is drawn at random and checked free.
    """
    low, high = _PORT_BELOW_EPHEMERAL
    for _ in range(200):
        port = random.randint(low, high)
        if port not in _HANDED_OUT and not port_in_use(port):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError(f"no free loopback port in {low}-{high}")


def _ports_below_ephemeral() -> tuple[int, int]:
    try:
        first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32768
    return 10_000, max(first_ephemeral - 1, 10_000 + 1_000)


_PORT_BELOW_EPHEMERAL = _ports_below_ephemeral()
_HANDED_OUT: set[int] = set()  # a port handed out is not handed out again by this process


def wait_for_port(port: int, *, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def port_in_use(port: int) -> bool:
    """Whether a server could not bind 127.0.0.1:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As uvicorn binds: a socket in TIME_WAIT from the last run does not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def runs_command(pid: int, marker: str) -> bool:
    """Whether pid still runs a command line holding `marker` (pids get reused)."""
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def project_root() -> Path:
    """The repository root: the nearest parent holding `deploy/local/pom.xml`."""
    env = os.environ.get("MC_PROJECT_ROOT")
    if env:
        return Path(env)
    for parent in [Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents]:
        if (parent / "deploy" / "local" / "pom.xml").is_file():
            return parent
    raise FileNotFoundError("cannot find the Metaconnect repository (deploy/local/pom.xml)")


def spawn(args: list[str], *, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a server in its own process group, output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes] | None, *, timeout: float = 20.0, kill: bool = False) -> None:
    """SIGTERM (or SIGKILL) the process group and wait for it."""
    if proc is None or proc.poll() is not None:
        return
    sig = signal.SIGKILL if kill else signal.SIGTERM
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
