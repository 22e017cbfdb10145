"""KafkaPublisher against a real broker: acks, key, headers and trace context."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.producer import BrokerUnavailable, KafkaPublisher, OutgoingRecord
from metaconnect_common.kafka.tracing import extract_context
from metaconnect_common.settings import KafkaSettings
from tests.support import read_topic, topic_name

pytestmark = pytest.mark.timeout(60)


async def test_round_trip_keeps_key_value_headers_and_trace(
    kafka_settings: KafkaSettings, topic: str, span_exporter: InMemorySpanExporter
) -> None:
    await ensure_topics(kafka_settings, [topic])
    publisher = KafkaPublisher(kafka_settings)
    tracer = trace.get_tracer("test")
    try:
        with tracer.start_as_current_span("accept events") as parent:
            acks = await publisher.publish(
                [
                    OutgoingRecord(topic, b"customer-1", b"first", [("mc.event-type", b"a")]),
                    OutgoingRecord(topic, b"customer-1", b"second"),
                ]
            )
    finally:
        await publisher.stop()

    # Same key, same partition, in order: acknowledged offsets say where they went.
    assert [a.topic for a in acks] == [topic_name(topic)] * 2  # acknowledged by the broker, under its name
    assert acks[0].partition == acks[1].partition
    assert acks[1].offset == acks[0].offset + 1
    first, second = await read_topic(kafka_settings.bootstrap, topic)
    assert (first.key, first.value, first.partition, first.offset) == (
        b"customer-1",
        b"first",
        acks[0].partition,
        acks[0].offset,
    )
    assert (second.key, second.value) == (b"customer-1", b"second")
    headers = dict(first.headers)
    assert headers["mc.event-type"] == b"a"
    trace_id = parent.get_span_context().trace_id
    assert headers["traceparent"].decode().split("-")[1] == f"{trace_id:032x}"
    # The header names the publish span, a child of the caller's span.
    remote = trace.get_current_span(extract_context(first.headers)).get_span_context()
    publish_spans = {
        context.span_id: span
        for span in span_exporter.get_finished_spans()
        if span.name == f"{topic_name(topic)} publish" and (context := span.get_span_context()) is not None
    }
    assert remote.span_id in publish_spans
    publish_parent = publish_spans[remote.span_id].parent
    assert publish_parent is not None
    assert publish_parent.span_id == parent.get_span_context().span_id


async def test_unreachable_broker_is_reported_as_unavailable(kafka_settings: KafkaSettings) -> None:
    # Port 9 (discard) on loopback: nothing listens, so the start must fail fast.
    settings = kafka_settings.model_copy(update={"bootstrap": "127.0.0.1:9", "publish_timeout_s": 2})
    publisher = KafkaPublisher(settings)
    with pytest.raises(BrokerUnavailable):
        await publisher.start()
    assert not publisher.connected


async def test_many_records_go_as_per_partition_batches_with_exact_acks(
    kafka_settings: KafkaSettings, topic: str
) -> None:
    await ensure_topics(kafka_settings, [topic])
    publisher = KafkaPublisher(kafka_settings)
    try:
        keys = [f"cid:c-{i % 7}".encode() for i in range(200)]
        records = [OutgoingRecord(topic, key, f"v{i}".encode()) for i, key in enumerate(keys)]
        acks = await publisher.publish(records)  # the batched path
        single = await publisher.publish_one(OutgoingRecord(topic, keys[0], b"single"))  # the send path
    finally:
        await publisher.stop()

    written = {(r.partition, r.offset): r for r in await read_topic(kafka_settings.bootstrap, topic)}
    assert len(written) == 201
    for record, ack in zip(records, acks, strict=True):
        got = written[(ack.partition, ack.offset)]
        assert (got.key, got.value) == (record.key, record.value)
        assert dict(got.headers)["traceparent"].startswith(b"00-")
    partition_of = {record.key: ack.partition for record, ack in zip(records, acks, strict=True)}
    assert single.partition == partition_of[keys[0]]  # both paths pick the same partition per key
    for key in set(keys):  # and each key's records keep their order
        offsets = [ack.offset for record, ack in zip(records, acks, strict=True) if record.key == key]
        assert offsets == sorted(offsets)
