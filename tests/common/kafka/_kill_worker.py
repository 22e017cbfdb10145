"""A consumer process for the kill-before-commit test (`test_consumer.py`).

    python _kill_worker.py block|drain <bootstrap> <topic> <group> <database_url> <tables>

Each record's value is an event id. The handler counts the delivery in
`<tables>_attempts` and applies the effect idempotently to `<tables>_effects`.

* `block`: handles one batch, prints `BLOCKED <offsets>` and then hangs where the
  runner would commit, so the test can SIGKILL it with the batch handled but not
  committed.
* `drain`: an ordinary service: consumes until SIGTERM, then drains and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from metaconnect_common.kafka.consumer import ConsumerRunner
from metaconnect_common.kafka.records import ConsumedRecord
from metaconnect_common.settings import KafkaSettings


class _NeverCommits(ConsumerRunner):
    """Hangs at the commit of the first batch: the crash window the test needs."""

    async def _commit(self, consumer: Any, offsets: dict[Any, int]) -> None:
        handled = {f"{tp.topic}:{tp.partition}": offset for tp, offset in offsets.items()}
        sys.stdout.write(f"BLOCKED {json.dumps(handled)}\n")
        sys.stdout.flush()
        await asyncio.Event().wait()


async def main(mode: str, bootstrap: str, topic: str, group: str, url: str, tables: str) -> None:
    engine = create_async_engine(url, pool_size=2)

    async def handle(record: ConsumedRecord) -> None:
        event_id = (record.value or b"").decode()
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    f"INSERT INTO {tables}_attempts (event_id, n) VALUES (:id, 1) "
                    f"ON CONFLICT (event_id) DO UPDATE SET n = {tables}_attempts.n + 1"
                ),
                {"id": event_id},
            )
            await conn.execute(
                text(f"INSERT INTO {tables}_effects (event_id) VALUES (:id) ON CONFLICT DO NOTHING"),
                {"id": event_id},
            )

    runner_class = _NeverCommits if mode == "block" else ConsumerRunner
    runner = runner_class(
        KafkaSettings(bootstrap=bootstrap, topic_partitions=3, linger_ms=0),
        group_id=group,
        topics=[topic],
        stage="killtest",
        handler=handle,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # drain on a polite kill, as uvicorn does for a service
        loop.add_signal_handler(sig, runner.stop)
    try:
        await runner.run()
    finally:
        await engine.dispose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(main(*sys.argv[1:7]))
