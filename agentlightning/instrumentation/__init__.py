"""Instrumentation: framework calls become OpenTelemetry spans, without changing the agent's code.

Usage
-----
::

    import agentlightning as agl

    agl.instrument_all()                       # every installed plugin; frameworks imported later too
    agl.instrument_all(capture_content=True)   # also record prompts and answers
    agl.uninstrument_all()                     # every original method is back

    from agentlightning.instrumentation import instrument_openai, uninstrument_openai
    instrument_openai()                        # one plugin by name; a clear error if it or openai is missing

Each framework is a plugin distribution (``agentlightning-openai``, ...) in its own folder under
``instrumentations/``, found through the entry-point group ``agentlightning.instrumentors``.
``instrument_<name>()`` / ``uninstrument_<name>()`` exist for every registered plugin name; the core names
no framework. Options (keyword, environment, default) are one table, :func:`options_table` (rendered in
``docs/configuration.md``); an unknown keyword raises ``TypeError`` naming the nearest known option.

Writing a plugin (see ``docs/adding-a-plugin.md``)
--------------------------------------------------
A plugin is the framework's attribute readers plus its patch table; the lifecycle is here:

- :class:`Instrumentor` (``name``, ``instruments`` requirements checked with ``packaging``, ``options``,
  ``_patches(config)`` returning :class:`Patch` es: deferred, idempotent, removable, resolved through the MRO);
- :class:`Operation` + :func:`wrap`: an LLM call / agent or workflow step / tool run around a patched method,
  sync, async, generator or async generator, streams included (:class:`SyncStreamProxy` /
  :class:`AsyncStreamProxy` with a :class:`StreamHandler`);
- :func:`start_llm` / :func:`start_agent` / :func:`start_tool` -> :class:`Invocation` (``stop`` / ``fail``)
  for code that is not a wrapper, and :class:`RunSpans` for callback frameworks (spans keyed by run id);
- :mod:`~agentlightning.instrumentation.messages`: typed GenAI message parts and the JSON encoder;
- :func:`capture_enabled` (per call), :func:`guard` (our failures never reach the user), :func:`record_error`,
  :func:`is_suppressed`, :func:`current_llm_invocation` (one LLM span per model call across layers).

Rules every plugin follows
--------------------------
- Patches are deferred (wrapt post-import hooks), idempotent, and removable layer by layer. A plugin that
  names its framework's top-level modules (``trigger_modules``) builds them only when the first is imported,
  so ``instrument_all()`` at start-up imports neither wrapt, ``packaging``, OpenTelemetry nor the plugins'
  wrappers (``bench/import_time.py`` prints the cost).
- Our own failures never reach the user's call (:func:`guard`); the user's exceptions pass through
  unchanged and mark the span ERROR.
- Nothing is traced under OpenTelemetry's ``suppress_instrumentation`` (:func:`is_suppressed`).
- One model call, one LLM span, even when several layers see it (the outer one owns it, the provider layer
  adds to it; see ``_spans``).
- Streams end their span exactly once. A request is never changed.

Wrappers only make OpenTelemetry spans on the global tracer provider; the agentlightning tracer's span
processor attributes them to the running rollout and writes them to the store. This package imports
nothing heavy until it is used (``import agentlightning`` stays fast).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "AsyncStreamProxy",
    "BaseProxy",
    "InstrumentationConfig",
    "InstrumentationUnavailableError",
    "Instrumentor",
    "Invocation",
    "Operation",
    "Option",
    "Patch",
    "RunSpans",
    "StreamHandler",
    "Switch",
    "SyncStreamProxy",
    "available_instrumentors",
    "capture_enabled",
    "check_requirement",
    "current_llm_invocation",
    "current_llm_span",
    "enter_llm_span",
    "exit_llm_span",
    "get_instrumentor",
    "guard",
    "instrument",
    "instrument_all",
    "is_suppressed",
    "llm_span_active",
    "llm_span_scope",
    "messages",
    "option_value",
    "options_table",
    "record_error",
    "register_instrumentor",
    "render_options",
    "reset_guard_reports",
    "resolve_target",
    "should_trace",
    "start_agent",
    "start_llm",
    "start_tool",
    "uninstrument",
    "uninstrument_all",
    "wrap",
]

_LAZY: dict[str, str] = {
    "AsyncStreamProxy": "._streams",
    "StreamHandler": "._streams",
    "SyncStreamProxy": "._streams",
    "BaseProxy": "._base",
    "InstrumentationUnavailableError": "._base",
    "Instrumentor": "._base",
    "Patch": "._base",
    "Switch": "._base",
    "check_requirement": "._base",
    "resolve_target": "._base",
    "InstrumentationConfig": "._config",
    "options_table": "._config",
    "Option": "._config",
    "capture_enabled": "._config",
    "option_value": "._config",
    "render_options": "._config",
    "current_llm_invocation": "._context",
    "current_llm_span": "._context",
    "enter_llm_span": "._context",
    "exit_llm_span": "._context",
    "is_suppressed": "._context",
    "llm_span_active": "._context",
    "llm_span_scope": "._context",
    "guard": "._guard",
    "reset_guard_reports": "._guard",
    "available_instrumentors": "._registry",
    "get_instrumentor": "._registry",
    "instrument": "._registry",
    "instrument_all": "._registry",
    "register_instrumentor": "._registry",
    "uninstrument": "._registry",
    "uninstrument_all": "._registry",
    "RunSpans": "._runs",
    "Invocation": "._spans",
    "Operation": "._spans",
    "record_error": "._spans",
    "should_trace": "._spans",
    "start_agent": "._spans",
    "start_llm": "._spans",
    "start_tool": "._spans",
    "wrap": "._spans",
    "messages": ".messages",
}


def _by_name(action: str, name: str) -> Any:
    from . import _registry

    if action == "instrument":

        def instrument_named(**options: Any) -> None:
            _registry.instrument(name, **options)

        instrument_named.__name__ = f"instrument_{name}"
        return instrument_named

    def uninstrument_named() -> None:
        _registry.uninstrument(name)

    uninstrument_named.__name__ = f"uninstrument_{name}"
    return uninstrument_named


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        imported = importlib.import_module(module, __name__)
        value = imported if name == "messages" else getattr(imported, name)
        globals()[name] = value
        return value
    # instrument_<plugin>() / uninstrument_<plugin>() for any registered plugin name.
    for action in ("uninstrument", "instrument"):
        prefix = action + "_"
        if name.startswith(prefix) and name[len(prefix) :] and name[len(prefix) :] != "all":
            from ._registry import available_instrumentors

            plugin = name[len(prefix) :]
            if plugin in available_instrumentors():
                return _by_name(action, plugin)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from . import messages
    from ._base import (
        BaseProxy,
        InstrumentationUnavailableError,
        Instrumentor,
        Patch,
        Switch,
        check_requirement,
        resolve_target,
    )
    from ._config import (
        InstrumentationConfig,
        Option,
        capture_enabled,
        option_value,
        options_table,
        render_options,
    )
    from ._context import (
        current_llm_invocation,
        current_llm_span,
        enter_llm_span,
        exit_llm_span,
        is_suppressed,
        llm_span_active,
        llm_span_scope,
    )
    from ._guard import (
        guard,
        reset_guard_reports,
    )
    from ._registry import (
        available_instrumentors,
        get_instrumentor,
        instrument,
        instrument_all,
        register_instrumentor,
        uninstrument,
        uninstrument_all,
    )
    from ._runs import (
        RunSpans,
    )
    from ._spans import (
        Invocation,
        Operation,
        record_error,
        should_trace,
        start_agent,
        start_llm,
        start_tool,
        wrap,
    )
    from ._streams import (
        AsyncStreamProxy,
        StreamHandler,
        SyncStreamProxy,
    )
