"""Instrumentation options: keyword arguments first, then environment variables, then defaults.

=====================  ===========================  ===============================================  =======  ==========
option                 keyword                      environment                                      default  type
=====================  ===========================  ===============================================  =======  ==========
capture content        ``capture_content``          ``AGENTLIGHTNING_CAPTURE_CONTENT``, then         off      bool
                                                    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_
                                                    CONTENT`` (``true``/``1``/``yes``/``on``; also
                                                    OpenTelemetry's modes: ``SPAN_ONLY``,
                                                    ``SPAN_AND_EVENT``, ``EVENT_ONLY`` on,
                                                    ``NO_CONTENT`` off; any case)
disabled frameworks    ``disabled`` (instrument_    ``AGENTLIGHTNING_DISABLED_INSTRUMENTATIONS``     none     names
                       all only)                    (comma-separated, e.g. ``openai,langchain``)
strict guard           --                           ``AGENTLIGHTNING_STRICT=1`` (tests: re-raise     off      flag
                                                    our own failures instead of logging them)
=====================  ===========================  ===============================================  =======  ==========

The environment is read when ``instrument_all()`` / ``instrument_<name>()`` is called, never per model
call. Options a plugin does not know are kept in :attr:`InstrumentationConfig.extra` for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentlightning.semconv import CAPTURE_CONTENT_ENV, DISABLED_INSTRUMENTATIONS_ENV, OTEL_CAPTURE_CONTENT_ENV

__all__ = ["InstrumentationConfig", "capture_enabled", "disabled_from_env", "env_flag", "otel_capture_flag"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def env_flag(name: str, environ: Mapping[str, str] | None = None) -> bool | None:
    """``True``/``False`` for a boolean-looking variable, ``None`` when unset or unrecognized."""
    value = (environ if environ is not None else os.environ).get(name)
    if value is None:
        return None
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


# OpenTelemetry's GenAI instrumentations (util-genai) take a content mode, not only a boolean.
_OTEL_MODES = {"span_only": True, "span_and_event": True, "event_only": True, "no_content": False}


def otel_capture_flag(environ: Mapping[str, str] | None = None) -> bool | None:
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``: a boolean, or a content mode (``SPAN_ONLY``,
    ``SPAN_AND_EVENT``, ``EVENT_ONLY``: on; ``NO_CONTENT``: off), case-insensitive; ``None`` when unset."""
    flag = env_flag(OTEL_CAPTURE_CONTENT_ENV, environ)
    if flag is not None:
        return flag
    value = (environ if environ is not None else os.environ).get(OTEL_CAPTURE_CONTENT_ENV)
    return _OTEL_MODES.get(value.strip().lower()) if value is not None else None


def disabled_from_env(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    raw = (environ if environ is not None else os.environ).get(DISABLED_INSTRUMENTATIONS_ENV, "")
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


@dataclass
class InstrumentationConfig:
    """What a wrapper needs to know, resolved once. Wrappers close over this object; re-instrumenting with
    new options updates it in place, so the change applies to wrappers already installed."""

    capture_content: bool | None = None
    """``True``/``False`` when the keyword or the environment said so; ``None``: ask the trace context
    (see :func:`capture_enabled`)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def resolve(cls, capture_content: bool | None = None, **extra: Any) -> InstrumentationConfig:
        if capture_content is None:
            capture_content = env_flag(CAPTURE_CONTENT_ENV)
        if capture_content is None:
            capture_content = otel_capture_flag()
        return cls(capture_content=capture_content, extra=dict(extra))

    def update_from(self, other: InstrumentationConfig) -> None:
        self.capture_content = other.capture_content
        self.extra = dict(other.extra)


def normalize_names(names: Iterable[str] | str | None) -> frozenset[str]:
    if names is None:
        return frozenset()
    if isinstance(names, str):
        names = names.split(",")
    return frozenset(n.strip().lower() for n in names if n.strip())


def capture_enabled(config: InstrumentationConfig) -> bool:
    """Whether a wrapper records content for this call: the explicit setting, else the active trace
    context's ``capture_content`` flag (a Trainer's rollouts turn it on), else off."""
    if config.capture_content is not None:
        return config.capture_content
    from agentlightning.tracer._state import current_trace_state

    state = current_trace_state()
    return state is not None and state.capture_content is True
