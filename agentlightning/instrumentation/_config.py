"""The one configuration table: every option's name, keyword, environment variables, default and type.

:data:`OPTIONS` is read by the instrumentation (``instrument_all()``, ``instrument_<name>()``), the guard
(``strict``), and by the tracer and trainer through :func:`option_value`; ``docs/configuration.md`` is
rendered from it by :func:`render_options` (a test keeps the page in sync). Order of precedence: the
keyword, then the first environment variable that is set to a valid value, then the default.

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

import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentlightning.semconv import (
    CAPTURE_CONTENT_ENV,
    DISABLED_INSTRUMENTATIONS_ENV,
    OTEL_CAPTURE_CONTENT_ENV,
    STORE_ENV,
    STRICT_ENV,
)
from agentlightning.tracer._state import current_trace_state  # SDK-free by design: safe and cheap to import

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
    "render_options",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
# OpenTelemetry's GenAI instrumentations (util-genai) take a content mode, not only a boolean.
_OTEL_MODES = {"span_only": True, "span_and_event": True, "event_only": True, "no_content": False}


def parse_bool(value: str) -> bool | None:
    """``true``/``1``/``yes``/``on`` -> True, ``false``/``0``/``no``/``off`` -> False (any case), else None."""
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def parse_content_mode(value: str) -> bool | None:
    """A boolean, or one of OpenTelemetry's content modes (``SPAN_ONLY``, ... on; ``NO_CONTENT`` off)."""
    flag = parse_bool(value)
    return flag if flag is not None else _OTEL_MODES.get(value.strip().lower())


def parse_names(value: str) -> frozenset[str]:
    """``"openai, LangChain"`` -> ``{"openai", "langchain"}``."""
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Option:
    """One row of the configuration table."""

    name: str
    """The option's name, and the attribute/``extra`` key it is stored under."""
    keyword: str | None
    """The keyword argument that sets it (``None``: environment only)."""
    env: tuple[tuple[str, Callable[[str], Any]], ...]
    """Environment variables in precedence order, each with its parser (a parser returning ``None`` skips it)."""
    default: Any
    type: str
    """What a value looks like, for people: ``bool``, ``names``, ``path``, ..."""
    help: str
    where: str = "instrumentation"
    """Who reads it: ``instrumentation``, ``guard``, ``trainer``, or a plugin's name."""

    def from_env(self, environ: Mapping[str, str] | None = None) -> Any:
        """The value the environment gives, or ``None`` when no variable is set to a valid value."""
        env = os.environ if environ is None else environ
        for variable, parse in self.env:
            raw = env.get(variable)
            if raw is not None:
                value = parse(raw)
                if value is not None:
                    return value
        return None

    def resolve(self, given: Any = None, environ: Mapping[str, str] | None = None) -> Any:
        """Keyword value if given (not ``None``), else the environment, else the default."""
        if given is not None:
            return given
        value = self.from_env(environ)
        return self.default if value is None else value


OPTIONS: tuple[Option, ...] = (
    Option(
        "capture_content",
        "capture_content",
        ((CAPTURE_CONTENT_ENV, parse_bool), (OTEL_CAPTURE_CONTENT_ENV, parse_content_mode)),
        None,
        "bool",
        "Record prompts, answers, tool arguments and results. Unset: off, except inside a trace context that "
        "asks for it (a Trainer's rollouts).",
    ),
    Option(
        "disabled",
        "disabled",
        ((DISABLED_INSTRUMENTATIONS_ENV, parse_names),),
        frozenset(),
        "names",
        "Plugins instrument_all() skips (comma-separated in the environment, e.g. openai,langchain).",
    ),
    Option(
        "strict",
        None,
        ((STRICT_ENV, parse_bool),),
        False,
        "bool",
        "The guard re-raises our own instrumentation failures instead of logging them (the project's tests).",
        where="guard",
    ),
    Option(
        "store",
        None,
        ((STORE_ENV, lambda value: value.strip() or None),),
        ".agentlightning/store.db",
        "path",
        "The SQLite store a Trainer opens when given none.",
        where="trainer",
    ),
)

_BY_NAME = {option.name: option for option in OPTIONS}


def options_table() -> tuple[Option, ...]:
    """The core's configuration table (:data:`OPTIONS`)."""
    return OPTIONS


_KEYWORDS = {option.keyword: option for option in OPTIONS if option.keyword}


def option_value(name: str, given: Any = None, environ: Mapping[str, str] | None = None) -> Any:
    """The resolved value of the core option ``name`` (``KeyError`` for a name not in :data:`OPTIONS`)."""
    return _BY_NAME[name].resolve(given, environ)


def env_flag(name: str, environ: Mapping[str, str] | None = None) -> bool | None:
    """``True``/``False`` for a boolean-looking variable, ``None`` when unset or unrecognized."""
    value = (environ if environ is not None else os.environ).get(name)
    return None if value is None else parse_bool(value)


def otel_capture_flag(environ: Mapping[str, str] | None = None) -> bool | None:
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` as a flag (booleans and content modes)."""
    value = (environ if environ is not None else os.environ).get(OTEL_CAPTURE_CONTENT_ENV)
    return None if value is None else parse_content_mode(value)


def disabled_from_env(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    value: frozenset[str] = _BY_NAME["disabled"].resolve(None, environ)
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
        near = difflib.get_close_matches(keyword, known, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}?" if near else f"known options: {', '.join(known)}"
        raise TypeError(f"Unknown instrumentation option {keyword!r}; {hint}")


@dataclass
class InstrumentationConfig:
    """What a wrapper needs to know, resolved once. Wrappers close over this object; re-instrumenting with
    new options updates it in place, so the change applies to wrappers already installed."""

    capture_content: bool | None = None
    """``True``/``False`` when the user said so, ``None`` when unset (see :func:`capture_enabled`)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """The plugin's own options (declared in ``Instrumentor.options``), resolved."""

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
        capture = _BY_NAME["capture_content"].resolve(given.get("capture_content"), environ)
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


def render_options(options: Iterable[Option] = OPTIONS) -> str:
    """The table as Markdown (what ``docs/configuration.md`` shows)."""
    lines = [
        "| option | keyword | environment | default | type | read by | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for option in options:
        keyword = f"`{option.keyword}`" if option.keyword else "--"
        env = ", then ".join(f"`{name}`" for name, _ in option.env) or "--"
        if option.default is None:
            default = "unset"
        elif isinstance(option.default, frozenset):
            default = "none"
        else:
            default = f"`{option.default}`"
        lines.append(
            f"| {option.name} | {keyword} | {env} | {default} | {option.type} | {option.where} | {option.help} |"
        )
    return "\n".join(lines) + "\n"
