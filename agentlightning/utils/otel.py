"""Tags and links on spans, and flat span attributes (``agentlightning.utils.otel``; 0.3's names).

OpenTelemetry attributes are flat: a list of tags or a list of link dicts is stored under numbered keys::

    span.set_attributes(make_tag_attributes(["reward.extrinsic", "gen_ai.model:gpt-4o"]))
    # {"agentlightning.tag.0": "reward.extrinsic", "agentlightning.tag.1": "gen_ai.model:gpt-4o"}

    span.set_attributes(make_link_attributes({"gen_ai.response.id": "chatcmpl-1"}))
    # {"agentlightning.link.0.key_match": "gen_ai.response.id", "agentlightning.link.0.value_match": "chatcmpl-1"}

    extract_tags_from_attributes(span.attributes)    # -> ["reward.extrinsic", ...]
    links = extract_links_from_attributes(span.attributes)
    query_linked_spans(spans, links)                  # the spans those links point at

A link matches a span when every one of its ``key_match`` keys has the ``value_match`` value: ``trace_id``
and ``span_id`` compare with the span's own ids, any other key with the span's attribute. Works on
agentlightning :class:`~agentlightning.types.Span` and on OpenTelemetry ``ReadableSpan`` alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from opentelemetry import trace as trace_api

from agentlightning.semconv import LightningSpanAttributes, LinkAttributes

__all__ = [
    "Link",
    "extract_links_from_attributes",
    "extract_tags_from_attributes",
    "filter_and_unflatten_attributes",
    "filter_attributes",
    "flatten_attributes",
    "full_qualified_name",
    "get_tracer",
    "make_link_attributes",
    "make_tag_attributes",
    "query_linked_spans",
    "unflatten_attributes",
]

S = TypeVar("S")


class Link(NamedTuple):
    """One link: the span it points at has ``key_match`` equal to ``value_match``."""

    key_match: str
    value_match: str


def full_qualified_name(obj: type[Any]) -> str:
    """``module.QualName`` of a class (just ``QualName`` for builtins)."""
    return obj.__qualname__ if obj.__module__ == "builtins" else f"{obj.__module__}.{obj.__qualname__}"


def get_tracer() -> trace_api.Tracer:
    """The OpenTelemetry tracer agentlightning writes with (the global provider's ``agentlightning`` tracer);
    its spans inside a trace context belong to the running rollout."""
    return trace_api.get_tracer("agentlightning")


def make_tag_attributes(tags: Sequence[str]) -> dict[str, Any]:
    """Attributes tagging a span with free-form strings."""
    if isinstance(tags, str):
        raise TypeError(f"make_tag_attributes takes a list of tags, got the string {tags!r}; wrap it in a list")
    for tag in tags:
        if not isinstance(tag, str):
            raise TypeError(f"Tags must be strings, got {type(tag).__name__} {tag!r}")
    return flatten_attributes({LightningSpanAttributes.TAG.value: list(tags)})


def extract_tags_from_attributes(attributes: Mapping[str, Any]) -> list[str]:
    """The tags :func:`make_tag_attributes` wrote (``[]`` when there are none)."""
    tags = filter_and_unflatten_attributes(attributes, LightningSpanAttributes.TAG.value)
    if not tags:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError(f"The span's {LightningSpanAttributes.TAG.value}.* attributes are not a list of strings")
    return list(tags)


def make_link_attributes(links: Mapping[str, str]) -> dict[str, Any]:
    """Attributes linking a span to others: ``{key: value}`` pairs, e.g. ``{"gen_ai.response.id": "..."}``
    or ``{"span_id": "..."}``; values must be strings."""
    items = []
    for key, value in links.items():
        if not isinstance(value, str):
            raise ValueError(f"Link values must be strings, got {type(value).__name__} for key {key!r}")
        items.append({LinkAttributes.KEY_MATCH.value: key, LinkAttributes.VALUE_MATCH.value: value})
    return flatten_attributes({LightningSpanAttributes.LINK.value: items})


def extract_links_from_attributes(attributes: Mapping[str, Any]) -> list[Link]:
    """The links :func:`make_link_attributes` wrote (``[]`` when there are none)."""
    raw = filter_and_unflatten_attributes(attributes, LightningSpanAttributes.LINK.value)
    if not raw:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"The span's {LightningSpanAttributes.LINK.value}.* attributes are not a list of links")
    links = []
    for item in raw:
        try:
            links.append(Link(str(item[LinkAttributes.KEY_MATCH.value]), str(item[LinkAttributes.VALUE_MATCH.value])))
        except (KeyError, TypeError):
            raise ValueError(f"A link needs key_match and value_match, got {item!r}") from None
    return links


def _span_ids(span: Any) -> tuple[str | None, str | None]:
    context = getattr(span, "context", None)
    if context is not None and isinstance(getattr(context, "span_id", None), int):  # an OpenTelemetry span
        return trace_api.format_trace_id(context.trace_id), trace_api.format_span_id(context.span_id)
    return getattr(span, "trace_id", None), getattr(span, "span_id", None)


def query_linked_spans(spans: Sequence[S], links: Sequence[Link]) -> list[S]:
    """The spans matching every link."""
    matched = []
    for span in spans:
        trace_id, span_id = _span_ids(span)
        attributes = getattr(span, "attributes", None) or {}
        for link in links:
            key, value = link
            actual = trace_id if key == "trace_id" else span_id if key == "span_id" else attributes.get(key)
            if actual != value:
                break
        else:
            matched.append(span)
    return matched


def filter_attributes(attributes: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The attributes named ``prefix`` or ``prefix.<anything>``."""
    return {k: v for k, v in attributes.items() if k == prefix or k.startswith(prefix + ".")}


def filter_and_unflatten_attributes(attributes: Mapping[str, Any], prefix: str) -> dict[str, Any] | list[Any]:
    """The attributes under ``prefix.``, rebuilt into nested dicts and lists with the prefix removed."""
    stripped = {k[len(prefix) + 1 :]: v for k, v in filter_attributes(attributes, prefix).items() if k != prefix}
    return unflatten_attributes(stripped)


def flatten_attributes(nested: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    """Dotted keys for nested dicts and lists (list items numbered): ``{"a": [{"b": 1}]}`` -> ``{"a.0.b": 1}``."""
    flat: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValueError(f"Attribute keys must be strings, got {key!r} under {prefix or 'the top'}")
                walk(item, f"{prefix}.{key}" if prefix else key)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(item, f"{prefix}.{index}" if prefix else str(index))
        else:
            flat[prefix] = value

    walk(nested, "")
    return flat


def unflatten_attributes(flat: Mapping[str, Any]) -> dict[str, Any] | list[Any]:
    """The inverse of :func:`flatten_attributes`: a level whose keys are all ``0..n-1`` becomes a list."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        node = root
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"Attribute {key!r} conflicts with a value at {part!r}")
            node = child
        node[parts[-1]] = value
    result: dict[str, Any] | list[Any] = _listify(root)
    return result


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items) and sorted(int(k) for k in items) == list(range(len(items))):
        return [items[str(i)] for i in range(len(items))]
    return items
