"""The one configuration table: every option agentlightning reads, with its keyword, environment variables,
default and type (``agentlightning._config``; public as ``agentlightning.instrumentation.options_table()``).

:data:`OPTIONS` is read by the instrumentation (``instrument_all()``, ``instrument_<name>()``), the guard
(``strict``), the tracer (OTLP export), the runner (``auto_instrument``) and the trainer (``store``,
``run_id``), each through :func:`option_value`; ``docs/configuration.md`` is rendered from it by
:func:`render_options` (a test keeps the page in sync). Order of precedence: the keyword, then the first
environment variable that is set to a valid value, then the default. Nobody else reads these variables from
``os.environ``.

It lives at the package root, imports nothing but the standard library and ``semconv``, so every part of
the package reads it without importing another part's private modules. Plugins declare their own options
with the same :class:`Option` (``Instrumentor.options``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agentlightning._lazylog import lazy_logger
from agentlightning._record import FrozenRecord
from agentlightning.semconv import (
    AUTO_INSTRUMENT_ENV,
    CAPTURE_CONTENT_ENV,
    DISABLED_INSTRUMENTATIONS_ENV,
    OTEL_CAPTURE_CONTENT_ENV,
    RUN_ID_ENV,
    STORE_ENV,
    STRICT_ENV,
)

__all__ = [
    "DEFAULT_STORE_PATH",
    "OPTIONS",
    "Option",
    "env_flag",
    "option_value",
    "options_table",
    "otel_capture_flag",
    "parse_bool",
    "parse_content_mode",
    "parse_names",
    "parse_seconds",
    "parse_text",
    "render_options",
]

logger = lazy_logger("agentlightning")

DEFAULT_STORE_PATH = os.path.join(".agentlightning", "store.db")
"""Where the embedded default store lives, relative to the working directory."""

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


def parse_text(value: str) -> str | None:
    """The value without surrounding blanks; a blank value counts as unset."""
    return value.strip() or None


def parse_seconds(variable: str) -> Callable[[str], float | None]:
    """A parser of a number of seconds that says, naming ``variable``, when the value is not one."""

    def parse(value: str) -> float | None:
        if not value.strip():
            return None
        try:
            return float(value)
        except ValueError:
            logger.warning("%s=%r is not a number of seconds; ignored", variable, value)
            return None

    return parse


def parse_names(value: str) -> frozenset[str]:
    """``"openai, LangChain"`` -> ``{"openai", "langchain"}``."""
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


class Option(FrozenRecord):
    """One row of the configuration table (immutable, compared by value)."""

    __slots__ = ("default", "env", "help", "keyword", "name", "type", "where")

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
    where: str
    """Who reads it: ``instrumentation`` (the default), ``guard``, ``trainer``, or a plugin's name."""

    def __init__(
        self,
        name: str,
        keyword: str | None,
        env: tuple[tuple[str, Callable[[str], Any]], ...],
        default: Any,
        type: str,
        help: str,
        where: str = "instrumentation",
    ) -> None:
        self._set(name=name, keyword=keyword, env=env, default=default, type=type, help=help, where=where)

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
        ((STORE_ENV, parse_text),),
        DEFAULT_STORE_PATH,
        "path",
        "The store a Trainer (and open_store()) opens when given none: a SQLite file or a postgresql:// URL.",
        where="trainer",
    ),
    Option(
        "run_id",
        "run_id",
        ((RUN_ID_ENV, parse_text),),
        None,
        "str",
        "The run id of a Trainer's runs (and of agentlightning worker); unset: a new id per run.",
        where="trainer",
    ),
    Option(
        "auto_instrument",
        "auto_instrument",
        ((AUTO_INSTRUMENT_ENV, parse_bool),),
        True,
        "bool",
        "Runners and trainers call instrument_all() for the installed plugins when they start.",
        where="runner",
    ),
    Option(
        "otlp_endpoint",
        "otlp_endpoint",
        (("OTEL_EXPORTER_OTLP_ENDPOINT", parse_text),),
        None,
        "url",
        "OtelTracer also exports every span over OTLP/HTTP to this collector base URL (/v1/traces appended). "
        "The environment applies only to the tracer's own provider.",
        where="tracer",
    ),
    Option(
        "otlp_traces_endpoint",
        None,
        (("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", parse_text),),
        None,
        "url",
        "The exact OTLP/HTTP traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT.",
        where="tracer",
    ),
    Option(
        "otlp_timeout",
        None,
        (
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", parse_seconds("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", parse_seconds("OTEL_EXPORTER_OTLP_TIMEOUT")),
        ),
        2.0,
        "seconds",
        "Timeout of one OTLP export request.",
        where="tracer",
    ),
    Option(
        "otel_sampler",
        None,
        (("OTEL_TRACES_SAMPLER", parse_text),),
        None,
        "name",
        "Not applied to the tracer's own provider (it records every span of a rollout); anything but "
        "always_on / parentbased_always_on logs a warning.",
        where="tracer",
    ),
)

_BY_NAME = {option.name: option for option in OPTIONS}


def options_table() -> tuple[Option, ...]:
    """The core's configuration table (:data:`OPTIONS`)."""
    return OPTIONS


def option_value(name: str, given: Any = None, environ: Mapping[str, str] | None = None) -> Any:
    """The resolved value of the option ``name`` (``KeyError`` for a name not in :data:`OPTIONS`)."""
    return _BY_NAME[name].resolve(given, environ)


def env_flag(name: str, environ: Mapping[str, str] | None = None) -> bool | None:
    """``True``/``False`` for a boolean-looking variable, ``None`` when unset or unrecognized."""
    value = (environ if environ is not None else os.environ).get(name)
    return None if value is None else parse_bool(value)


def otel_capture_flag(environ: Mapping[str, str] | None = None) -> bool | None:
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` as a flag (booleans and content modes)."""
    value = (environ if environ is not None else os.environ).get(OTEL_CAPTURE_CONTENT_ENV)
    return None if value is None else parse_content_mode(value)


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
