"""What the benchmarks share around their measurements.

Real Kafka and PostgreSQL for a run (`infrastructure`), the command and environment of a
service subprocess (optionally under `bench/profiled.py`), a producer with the services'
settings, the uvloop runner, the common options and `run_main`: workdir, SIGTERM, exit
code 2 when something did not start, data removed afterwards.

The scripts import this as `bench._harness` (see `ROOT` there): `python bench/<script>.py`
puts `bench/` on `sys.path`, not the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvloop
from aiokafka import AIOKafkaProducer

from metaconnect_cli.local.kafka import KafkaBroker
from metaconnect_cli.local.postgres import EmbeddedPostgres
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.migrations import upgrade
from metaconnect_common.settings import KafkaSettings

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# What KafkaPublisher._make passes besides the KafkaSettings (libs/common/.../kafka/producer.py).
PUBLISHER_MAX_BATCH_BYTES = 256 * 1024

T = TypeVar("T")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class StartFailure(RuntimeError):
    """Something the bench needs did not start, or a service died (exit code 2)."""


# --------------------------------------------------------------------------- infrastructure


@dataclass
class Infra:
    workdir: Path
    bootstrap: str = ""
    database_url: str = ""
    kafka_pid: int = 0
    postmaster_pid: int = 0


@contextlib.contextmanager
def infrastructure(
    workdir: Path, *, partitions: int, migrate: str, topics: Sequence[str], migrated: str
) -> Iterator[Infra]:
    """Real Kafka and PostgreSQL for this run, `migrate`'s schema migrated, `topics` created; stopped on the way out.

    The topics are created now, so their partition leaders are settled when the bench starts.
    `migrated` says what was migrated in the log line."""
    infra = Infra(workdir)
    broker = KafkaBroker(workdir / "kafka", partitions=partitions)
    pg = EmbeddedPostgres(workdir / "pg")
    try:
        t = time.monotonic()
        try:
            infra.bootstrap = broker.start()
            proc = broker._proc
            infra.kafka_pid = proc.pid if proc is not None else 0
            infra.database_url = pg.start()
            infra.postmaster_pid = int((pg.data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
            upgrade(migrate, infra.database_url)
            kafka = KafkaSettings(bootstrap=infra.bootstrap, topic_partitions=partitions)
            asyncio.run(ensure_topics(kafka, list(topics)))
        except (OSError, subprocess.SubprocessError, TimeoutError, RuntimeError) as exc:
            raise StartFailure(f"Kafka/PostgreSQL did not start: {exc!r}") from exc
        log(f"Kafka {infra.bootstrap} and PostgreSQL up, {migrated} ({time.monotonic() - t:.1f}s)")
        yield infra
    finally:
        broker.stop()
        pg.stop()


def service_producer(bootstrap: str) -> AIOKafkaProducer:
    """An AIOKafkaProducer with the settings the services publish with (acks=all, idempotence, compression, linger)."""
    kafka = KafkaSettings(bootstrap=bootstrap)
    return AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap,
        client_id="metaconnect-bench",
        acks="all",
        enable_idempotence=kafka.idempotence,
        compression_type=None if kafka.compression == "none" else kafka.compression,
        linger_ms=kafka.linger_ms,
        request_timeout_ms=kafka.request_timeout_ms,
        max_batch_size=PUBLISHER_MAX_BATCH_BYTES,
    )


def run_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Everything asynchronous in the bench process runs on uvloop, as the services do."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# --------------------------------------------------------------------------- services


def server_cmd(args: list[str], profile_prefix: Path | None = None) -> list[str]:
    """The command running a server: `args` is `-m module ...` or `script.py ...` (a script in bench/).

    With `profile_prefix` under cProfile via bench/profiled.py, which writes `PREFIX<n>.prof`."""
    if profile_prefix is None:
        return [sys.executable, *args]
    profile_prefix.parent.mkdir(parents=True, exist_ok=True)
    profiled = [sys.executable, str(BENCH_DIR / "profiled.py"), str(profile_prefix)]
    if args[0] == "-m":
        return [*profiled, *args[1:]]
    # A script in bench/: profiled.py (also in bench/) has it on sys.path as a module.
    return [*profiled, Path(args[0]).stem, *args[1:]]


def service_env(infra: Infra, **settings: str) -> dict[str, str]:
    """The environment of a service under test: test mode, this run's Kafka and PostgreSQL, quiet logs."""
    return {
        **settings,
        "MC_ENV": "test",
        "MC_DATABASE_URL": infra.database_url,
        "MC_KAFKA_BOOTSTRAP": infra.bootstrap,
        "MC_LOG_LEVEL": "WARNING",
        # Spans stay in the process: a benchmark sends nothing off this machine.
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
    }


# --------------------------------------------------------------------------- command line


def add_common_args(parser: argparse.ArgumentParser, *, profile_help: str, module_flag: str, module: str) -> None:
    """--profile, --profile-top, the module run as the service, --workdir and --keep-data."""
    parser.add_argument("--profile", action="store_true", help=profile_help)
    parser.add_argument("--profile-top", type=int, default=40, help="rows of the profile to print (default 40)")
    parser.add_argument(
        module_flag, default=module, help=f"module run as the service (default {module}; a variant for experiments)"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="logs and data (default .metaconnect/bench/RUN)")
    parser.add_argument("--keep-data", action="store_true", help="keep Kafka/PostgreSQL data after the run")


def default_workdir(opts: argparse.Namespace, prefix: str) -> None:
    if opts.workdir is None:
        opts.workdir = ROOT / ".metaconnect" / "bench" / time.strftime(f"{prefix}-%Y%m%d-%H%M%S")


def run_main(
    opts: argparse.Namespace,
    measure: Callable[[], T],
    report: Callable[[T, float], int],
    *,
    failures: tuple[type[BaseException], ...] = (StartFailure, OSError, subprocess.SubprocessError, TimeoutError),
) -> int:
    """Measure, then report (given the seconds since the start); 2 when `measure` raised one of `failures`.

    SIGTERM unwinds through the context managers, so servers and infrastructure stop; the
    Kafka and PostgreSQL data are deleted unless --keep-data, the logs stay."""

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    started = time.monotonic()
    log(f"workdir {opts.workdir}")
    try:
        (opts.workdir / "logs").mkdir(parents=True, exist_ok=True)
        result = measure()
    except failures as exc:
        log(f"bench failed: {exc!r} (logs in {opts.workdir / 'logs'})")
        return 2
    finally:
        if not opts.keep_data:
            shutil.rmtree(opts.workdir / "data", ignore_errors=True)
    code = report(result, time.monotonic() - started)
    log(f"done in {time.monotonic() - started:.0f}s; logs in {opts.workdir / 'logs'}")
    return code
