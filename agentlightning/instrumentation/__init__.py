"""Instrumentation: framework calls become OpenTelemetry spans, without changing the agent's code.

Usage
-----
::

    import agentlightning as agl

    agl.instrument_all()                       # every installed plugin; frameworks imported later too
    agl.instrument_all(capture_content=True)   # also record prompts and answers
    agl.uninstrument_all()                     # every original method is back

    from agentlightning.instrumentation import instrument_openai, uninstrument_openai
    instrument_openai()                        # one framework; a clear error if openai is missing

Each framework is a plugin distribution (``agentlightning-openai``, ...) found through the entry-point
group ``agentlightning.instrumentors``; a third party adds one the same way (see :class:`Instrumentor`).
``instrument_<name>()`` / ``uninstrument_<name>()`` exist for every registered plugin name.

Configuration
-------------
=====================  ======================  ====================================================  =======
option                 keyword                 environment                                           default
=====================  ======================  ====================================================  =======
message content        ``capture_content``     ``AGENTLIGHTNING_CAPTURE_CONTENT``, then               off
                                               ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
skip plugins           ``disabled``            ``AGENTLIGHTNING_DISABLED_INSTRUMENTATIONS=openai,...``  none
strict guard (tests)   --                      ``AGENTLIGHTNING_STRICT=1``                            off
=====================  ======================  ====================================================  =======

Rules every plugin follows
--------------------------
- Patches are deferred (wrapt post-import hooks), idempotent, and removable layer by layer.
- Our own failures never reach the user's call (:func:`guard`); the user's exceptions pass through
  unchanged and mark the span ERROR.
- Nothing is traced under OpenTelemetry's ``suppress_instrumentation`` (:func:`is_suppressed`).
- One model call, one LLM span, even when several instrumentations see it (:func:`llm_span_active`).
- Streams end their span exactly once (:class:`SyncStreamProxy`, :class:`AsyncStreamProxy`).
- A request is never changed.

Wrappers only make OpenTelemetry spans on the global tracer provider; the agentlightning tracer's span
processor attributes them to the running rollout and writes them to the store. This package imports
nothing heavy until it is used (``import agentlightning`` stays fast).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "AsyncStreamProxy",
    "InstrumentationConfig",
    "InstrumentationUnavailableError",
    "Instrumentor",
    "Patch",
    "StreamHandler",
    "Switch",
    "SyncStreamProxy",
    "available_instrumentors",
    "capture_enabled",
    "current_llm_span",
    "enter_llm_span",
    "exit_llm_span",
    "get_instrumentor",
    "guard",
    "instrument",
    "instrument_all",
    "instrument_openai",
    "is_suppressed",
    "llm_span_active",
    "llm_span_scope",
    "register_instrumentor",
    "uninstrument",
    "uninstrument_all",
    "uninstrument_openai",
]

_LAZY: dict[str, str] = {
    "InstrumentationConfig": "._config",
    "capture_enabled": "._config",
    "InstrumentationUnavailableError": "._base",
    "Instrumentor": "._base",
    "Patch": "._base",
    "Switch": "._base",
    "AsyncStreamProxy": "._streams",
    "StreamHandler": "._streams",
    "SyncStreamProxy": "._streams",
    "current_llm_span": "._context",
    "enter_llm_span": "._context",
    "exit_llm_span": "._context",
    "is_suppressed": "._context",
    "llm_span_active": "._context",
    "llm_span_scope": "._context",
    "guard": "._guard",
    "available_instrumentors": "._registry",
    "get_instrumentor": "._registry",
    "instrument": "._registry",
    "instrument_all": "._registry",
    "register_instrumentor": "._registry",
    "uninstrument": "._registry",
    "uninstrument_all": "._registry",
}


def instrument_openai(**options: Any) -> None:
    """Instrument the OpenAI client (chat completions and ``parse``, Responses, embeddings).

    Needs the ``agentlightning-openai`` plugin (``pip install 'agentlightning[openai]'``) and
    ``openai>=1.40``; raises :class:`InstrumentationUnavailableError` otherwise.
    """
    from ._registry import instrument

    instrument("openai", **options)


def uninstrument_openai() -> None:
    from ._registry import uninstrument

    uninstrument("openai")


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
        value = getattr(importlib.import_module(module, __name__), name)
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
    from ._base import InstrumentationUnavailableError, Instrumentor, Patch, Switch
    from ._config import InstrumentationConfig, capture_enabled
    from ._context import (
        current_llm_span,
        enter_llm_span,
        exit_llm_span,
        is_suppressed,
        llm_span_active,
        llm_span_scope,
    )
    from ._guard import guard
    from ._registry import (
        available_instrumentors,
        get_instrumentor,
        instrument,
        instrument_all,
        register_instrumentor,
        uninstrument,
        uninstrument_all,
    )
    from ._streams import AsyncStreamProxy, StreamHandler, SyncStreamProxy
