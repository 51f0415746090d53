"""Reading a finished span list as a tree (names, parents, traces) for the assertions."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan


def parent_of(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> ReadableSpan | None:
    if span.parent is None:
        return None
    for candidate in spans:
        if candidate.context.span_id == span.parent.span_id:
            return candidate
    return None


def edges(spans: Sequence[ReadableSpan]) -> set[tuple[str, str | None]]:
    """``(span name, parent name)`` for every span (``None``: a root)."""
    result = set()
    for span in spans:
        parent = parent_of(span, spans)
        result.add((span.name, parent.name if parent is not None else None))
    return result


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def one_trace(spans: Sequence[ReadableSpan]) -> bool:
    return len({s.context.trace_id for s in spans}) == 1
