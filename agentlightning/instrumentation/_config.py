"""The instrumentation's view of the configuration: :class:`InstrumentationConfig`, resolved once per
``instrument_all()`` / ``instrument_<name>()`` call.

The table itself (every option's name, keyword, environment variables, default and type, for the
instrumentation, guard, tracer, runner and trainer alike) is ``agentlightning._config``; its names are
re-exported here (:data:`OPTIONS`, :class:`Option`, :func:`option_value`, :func:`render_options`).

A plugin declares its own typed options the same way, as :attr:`Instrumentor.options
<agentlightning.instrumentation.Instrumentor.options>`; their values land in
:attr:`InstrumentationConfig.extra`. A keyword nobody declared raises ``TypeError`` naming it and the
nearest known option (``instrument_all(capture_contnet=True)`` -> "did you mean 'capture_content'?").

**Content capture is three-valued.** ``capture_content`` is ``True``/``False`` when the user said so (keyword
or environment) and ``None`` when unset. A wrapper decides per call with :func:`capture_enabled`: the
explicit value when set, else the active trace context's ``capture_content`` flag (a ``Trainer`` turns it on
for its rollouts), else off.

The environment is read when ``instrument_all()`` / ``instrument_<name>()`` is called, never per model call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agentlightning._config import (
    OPTIONS,
    Option,
    env_flag,
    option_value,
    options_table,
    otel_capture_flag,
    parse_bool,
    parse_content_mode,
    parse_names,
    render_options,
)
from agentlightning._record import Record
from agentlightning.tracer import current_trace_state  # SDK-free by design: safe and cheap to import

__all__ = [
    "OPTIONS",
    "InstrumentationConfig",
    "Option",
    "capture_enabled",
    "disabled_from_env",
    "env_flag",
    "option_value",
    "options_table",
    "otel_capture_flag",
    "parse_bool",
    "parse_content_mode",
    "render_options",
]

_KEYWORDS = {option.keyword: option for option in OPTIONS if option.keyword}


def disabled_from_env(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    value: frozenset[str] = option_value("disabled", None, environ)
    return value


def normalize_names(names: Iterable[str] | str | None) -> frozenset[str]:
    if names is None:
        return frozenset()
    if isinstance(names, str):
        return parse_names(names)
    return frozenset(n.strip().lower() for n in names if n.strip())


def check_keywords(given: Iterable[str], known: Iterable[str]) -> None:
    """``TypeError`` naming the first unknown keyword and the nearest known one."""
    known = sorted(set(known))
    for keyword in given:
        if keyword in known:
            continue
        import difflib

        near = difflib.get_close_matches(keyword, known, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}?" if near else f"known options: {', '.join(known)}"
        raise TypeError(f"Unknown instrumentation option {keyword!r}; {hint}")


class InstrumentationConfig(Record):
    """What a wrapper needs to know, resolved once. Wrappers close over this object; re-instrumenting with
    new options updates it in place, so the change applies to wrappers already installed."""

    __slots__ = ("capture_content", "extra")

    capture_content: bool | None
    """``True``/``False`` when the user said so, ``None`` when unset (see :func:`capture_enabled`)."""
    extra: dict[str, Any]
    """The plugin's own options (declared in ``Instrumentor.options``), resolved."""

    def __init__(self, capture_content: bool | None = None, extra: dict[str, Any] | None = None) -> None:
        self.capture_content = capture_content
        self.extra = {} if extra is None else extra

    @classmethod
    def resolve(
        cls,
        options: Mapping[str, Any] | None = None,
        plugin_options: Iterable[Option] = (),
        environ: Mapping[str, str] | None = None,
        **keywords: Any,
    ) -> InstrumentationConfig:
        """Resolve keywords (``options`` and/or ``**keywords``) against the table and ``plugin_options``.

        ``TypeError`` for a keyword that is neither a core instrumentation option nor one of the plugin's.
        """
        given = {**(options or {}), **keywords}
        plugin = {option.keyword: option for option in plugin_options if option.keyword}
        core = [k for k, o in _KEYWORDS.items() if o.where == "instrumentation" and k != "disabled"]
        check_keywords(given, core + list(plugin))
        capture = option_value("capture_content", given.get("capture_content"), environ)
        extra = {option.name: option.resolve(given.get(keyword), environ) for keyword, option in plugin.items()}
        return cls(capture_content=None if capture is None else bool(capture), extra=extra)

    def update_from(self, other: InstrumentationConfig) -> None:
        self.capture_content = other.capture_content
        self.extra = dict(other.extra)


def capture_enabled(config: InstrumentationConfig) -> bool:
    """Whether this call records content: the explicit setting, else the trace context's flag, else off."""
    explicit = config.capture_content
    if explicit is not None:
        return explicit
    state = current_trace_state()
    return bool(state is not None and getattr(state, "capture_content", None))
