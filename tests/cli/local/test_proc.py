"""Process plumbing: ports for local servers."""

from __future__ import annotations

import socket
from pathlib import Path

from metaconnect_cli.local._proc import free_port


def test_free_ports_are_bindable_distinct_and_never_from_the_range_outgoing_connections_use() -> None:
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 < port < first_ephemeral for port in ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", ports[-1]))
