"""W3C trace context in Kafka headers (a mutable list of (str, bytes))."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Link, SpanContext, get_current_span

Headers = list[tuple[str, bytes]]


class _HeaderSetter(Setter[Headers]):
    def set(self, carrier: Headers, key: str, value: str) -> None:
        carrier[:] = [(k, v) for k, v in carrier if k != key]
        carrier.append((key, value.encode()))


class _HeaderGetter(Getter[Sequence[tuple[str, bytes]]]):
    def get(self, carrier: Sequence[tuple[str, bytes]], key: str) -> list[str] | None:
        values = [v.decode("latin-1") for k, v in carrier if k == key]
        return values or None

    def keys(self, carrier: Sequence[tuple[str, bytes]]) -> list[str]:
        return [k for k, _ in carrier]


def inject_headers(headers: Iterable[tuple[str, bytes]] = (), ctx: otel_context.Context | None = None) -> Headers:
    """A copy of `headers` with the current (or given) trace context injected."""
    out: Headers = list(headers)
    propagate.inject(out, context=ctx, setter=_HeaderSetter())
    return out


def has_traceparent(headers: Sequence[tuple[str, bytes]]) -> bool:
    return any(k == "traceparent" for k, _ in headers)


def extract_context(headers: Sequence[tuple[str, bytes]] | None) -> otel_context.Context:
    """The trace context a producer put in the headers (empty context if none)."""
    return propagate.extract(list(headers or ()), getter=_HeaderGetter())


def traceparent_of(context: SpanContext) -> str | None:
    """The W3C `traceparent` of a span (None for an invalid context)."""
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def context_from(traceparent: str | None) -> otel_context.Context | None:
    """The context a stored `traceparent` names, to start a child span in (None if there is none)."""
    if not traceparent:
        return None
    return propagate.extract({"traceparent": traceparent})


def links_to(traceparents: Iterable[str | None]) -> list[Link]:
    """Span links to the spans these `traceparent`s name (invalid or missing ones are skipped)."""
    links: list[Link] = []
    for traceparent in dict.fromkeys(traceparents):
        context = get_current_span(context_from(traceparent)).get_span_context() if traceparent else None
        if context is not None and context.is_valid:
            links.append(Link(context))
    return links
