"""Apache Kafka (KRaft, one combined broker/controller node on loopback).

The broker's classpath comes from Maven Central through `deploy/local/pom.xml` and is
cached under `~/.cache/metaconnect/kafka-<pom hash>`, so a second run downloads nothing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from metaconnect_cli.local._proc import free_port, project_root, spawn, stop, wait_for_port

_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={log_dir}
num.partitions={partitions}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
"""


def kafka_classpath() -> Path:
    """Directory holding the broker's jars, fetched with Maven on first use."""
    return maven_classpath(project_root() / "deploy" / "local" / "pom.xml", "kafka")


def maven_classpath(pom: Path, name: str) -> Path:
    """Directory holding the dependencies `pom` names, fetched with Maven on first use and
    cached under `~/.cache/metaconnect/<name>-<pom hash>`."""
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("MC_CACHE_DIR", Path.home() / ".cache" / "metaconnect"))
    libs = cache / f"{name}-{digest}"
    if (libs / ".complete").is_file():
        return libs
    tmp = libs.with_name(f"{libs.name}.tmp-{os.getpid()}")  # concurrent test workers each fetch their own
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={tmp}"],
        check=True,
        timeout=900,
    )
    (tmp / ".complete").touch()
    try:
        tmp.rename(libs)
    except OSError:  # another worker finished first: theirs is complete
        shutil.rmtree(tmp, ignore_errors=True)
    return libs


@dataclass
class KafkaBroker:
    """One real Kafka broker; `start` formats its storage on first use."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    partitions: int = 12
    heap: str = "512m"
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> str:
        libs = kafka_classpath()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self.data_dir / "server.properties"
        props.write_text(
            _SERVER_PROPERTIES.format(
                port=self.port,
                controller_port=self.controller_port,
                log_dir=self.data_dir / "logs",
                partitions=self.partitions,
            )
        )
        java = [shutil.which("java") or "java", "-cp", f"{libs}/*"]
        if not (self.data_dir / "logs" / "meta.properties").is_file():
            subprocess.run(
                [*java, "kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(props)],
                check=True,
                capture_output=True,
                timeout=120,
            )
        self._proc = spawn(
            [
                *java[:1],
                f"-Xmx{self.heap}",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true",
                *java[1:],
                "kafka.Kafka",
                str(props),
            ],
            log=self.data_dir / "broker.log",
        )
        wait_for_port(self.port, timeout=timeout, proc=self._proc)
        return self.bootstrap

    def stop(self) -> None:
        stop(self._proc, timeout=30)
        self._proc = None

    def kill(self) -> None:
        stop(self._proc, kill=True)
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


def new_cluster_id(random_bytes: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding. Never one starting
    with `-`, which the storage tool would read as an option (about one id in 64 does)."""
    while (cluster_id := base64.urlsafe_b64encode(random_bytes()).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id
