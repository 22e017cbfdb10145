"""A consuming service's plumbing, shared: database, publisher, outbox relay, consumer runner.

Profile, router and delivery each consume one topic and publish through their outbox. A
`Stage` opens what they share; `running` starts the consumer (creating its topics in
development), the relay and the service's own background tasks, and stops them in the order
that loses nothing: the consumer first (its last batch and offsets), then the rest, then the
publisher and the database.

    stage = Stage("router", common, OUTBOX)
    service = DecisionService(stage.sessions)
    async with stage.running(group_id=..., topics=[PROFILED], produces=[DELIVERIES], handler=...):
        install(app, RouterState(auth=common.auth, stage=stage, decisions=service, ...))
        yield

The service's typed state derives from `StageState`, whose readiness checks are the stage's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import create_engine, ping, session_factory
from metaconnect_common.http import ReadinessCheck
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.consumer import ConsumerRunner
from metaconnect_common.kafka.producer import KafkaPublisher
from metaconnect_common.kafka.records import BatchHandler, Handler, RetryPolicy
from metaconnect_common.outbox import OutboxRelay
from metaconnect_common.settings import CommonSettings
from metaconnect_common.state import ServiceState, state_dependency

CONSUMER_STOP_S = 30.0
RETRY = RetryPolicy(attempts=8, base_delay_s=0.2, max_delay_s=5.0)


class Stage:
    def __init__(self, service: str, common: CommonSettings, outbox: Table) -> None:
        self.service = service
        self.common = common
        self.engine = create_engine(common.database, application_name=f"metaconnect-{service}", pre_ping=False)
        self.sessions = session_factory(self.engine)
        self.publisher = KafkaPublisher(common.kafka, client_id=f"metaconnect-{service}")
        self.relay = OutboxRelay(self.sessions, self.publisher, outbox)
        self.runner: ConsumerRunner | None = None
        """The consumer, while `running`."""

    @asynccontextmanager
    async def running(
        self,
        *,
        group_id: str,
        topics: Sequence[str],
        produces: Sequence[str],
        handler: Handler,
        batch_handler: BatchHandler | None = None,
        max_records: int,
        tasks: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    ) -> AsyncIterator[ConsumerRunner]:
        """Consume until the block ends."""
        self.runner = runner = ConsumerRunner(
            self.common.kafka,
            group_id=group_id,
            topics=list(topics),
            stage=self.service,
            handler=handler,
            batch_handler=batch_handler,
            retry=RETRY,
            max_records=max_records,
            dead_letters=self.publisher,
            client_id=f"metaconnect-{self.service}",
            before_commit=self.relay.flush_enqueued,
        )

        async def consume() -> None:
            if self.common.kafka.create_topics:
                await ensure_topics(self.common.kafka, [*topics, *produces])
            await runner.run()

        consumer = asyncio.create_task(consume(), name="consumer")
        others = [asyncio.create_task(self.relay.run(), name="outbox")]
        others += [asyncio.create_task(task(), name=getattr(task, "__name__", "task")) for task in tasks]
        try:
            yield runner
        finally:
            runner.stop()
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(consumer, CONSUMER_STOP_S)
            for task in others:
                task.cancel()
            for task in [consumer, *others]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.publisher.stop()
            await self.engine.dispose()

    def checks(self) -> dict[str, ReadinessCheck]:
        """Ready when Kafka answers and the consumer runs, and the database answers."""

        async def kafka() -> None:
            await self.publisher.ping()
            if self.runner is None or not self.runner.ready:
                raise RuntimeError("consumer not running")

        async def database() -> None:
            await ping(self.engine)

        return {"kafka": kafka, "database": database}


@dataclass(frozen=True, kw_only=True)
class StageState(ServiceState):
    """The typed state of a consuming service: its stage (database, publisher, relay, consumer)."""

    stage: Stage

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.stage.sessions

    @property
    def relay(self) -> OutboxRelay:
        return self.stage.relay

    def readiness(self) -> Mapping[str, ReadinessCheck]:
        return self.stage.checks()


_stage_state = state_dependency(StageState)


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return _stage_state(request).sessions


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with _stage_state(request).sessions() as session:
        yield session


def _relay(request: Request) -> OutboxRelay:
    return _stage_state(request).relay


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
"""The consuming service's session factory, for a unit of work of the endpoint's own."""
SessionDep = Annotated[AsyncSession, Depends(_session)]
"""A session for reading, closed (rolled back) after the response; writes take a unit of work."""
RelayDep = Annotated[OutboxRelay, Depends(_relay)]
"""The outbox relay, to publish at once what an endpoint's unit of work enqueued."""
