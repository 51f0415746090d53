"""What AgentOps does at ``init()`` that reaches its cloud or changes the process, and the replacements.

AgentOps 0.4.21's ``Client.init`` (``agentops/client/client.py``) runs, in order: ``configure_logging`` (a console
handler and, unless ``AGENTOPS_LOGGING_TO_FILE=false``, ``agentops.log`` opened in the working directory),
``intercept_opentelemetry_logging`` (the ``opentelemetry`` logger silenced into AgentOps' own), ``TracingCore``'s
``setup_telemetry`` (a global ``TracerProvider`` with an OTLP exporter to its cloud and a processor that uploads
everything printed when a root span ends, a global ``MeterProvider`` exporting to its cloud at exit,
``builtins.print`` replaced), ``instrument_all`` when ``instrument_llm_calls`` (``builtins.__import__`` replaced),
``_start_auth_task`` (a thread that calls ``api.agentops.ai`` when a key is set), and an auto-started session.

Each replacement below keeps what the user's program sees (decorators, ``start_trace`` / ``end_trace``, its
own LLM instrumentation) and drops what leaves the machine or outlives ``uninstrument``:

=====================================  ======================================================================
patched (module attribute)             replacement
=====================================  ======================================================================
``sdk.core.setup_telemetry``           no provider is created or made global: AgentOps gets a
                                       :class:`RoutingTracerProvider` whose tracers are the global
                                       provider's (so its spans, and those of its LLM instrumentors, reach
                                       whatever records spans, the agentlightning tracer included), whose
                                       ``force_flush``/``shutdown`` leave that provider alone; no meter
                                       provider, no exporter, no upload processor, ``print`` untouched
``client.client.configure_logging``    the same console handler and level, never a log file
``client.client.intercept_``           nothing: the ``opentelemetry`` logger stays the program's
``opentelemetry_logging``
``Client._start_auth_task``            nothing: no authentication request (the key is kept, unused)
``Client.init``                        called with ``auto_start_session=False`` (a session span open for
                                       the whole process would be the parent of every rollout's spans)
                                       and ``log_session_replay_url=False`` (a URL to a dashboard that
                                       never receives the data)
=====================================  ======================================================================
"""

from __future__ import annotations

import builtins
import inspect
import logging
import os
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from agentlightning.instrumentation import Switch

__all__ = [
    "COVERED",
    "RoutingTracerProvider",
    "auth_wrapper",
    "init_wrapper",
    "intercept_logging_wrapper",
    "llm_callback_wrapper",
    "logging_wrapper",
    "perform_instrumentation_wrapper",
    "telemetry_wrapper",
]

WrapperFunction = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]  # wrapt's wrapper signature

# What init() is always given, whatever the user passed (see the module docstring).
FORCED_INIT_OPTIONS: dict[str, Any] = {"auto_start_session": False, "log_session_replay_url": False}


class RoutingTracerProvider(trace.TracerProvider):
    """The provider AgentOps holds: tracers from the global provider, flush and shutdown left to its owner.

    AgentOps calls ``force_flush()`` after every span it ends and ``shutdown()`` at exit; on the global provider
    (the agentlightning tracer's, or the program's own) that would block every span on the store writer and
    end recording for everyone at AgentOps' exit hook. The agentlightning tracer flushes at trace-context exit
    and process exit itself.
    """

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return trace.get_tracer_provider().get_tracer(*args, **kwargs)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        return None


def telemetry_wrapper(switch: Switch) -> WrapperFunction:
    """``setup_telemetry(...) -> (tracer provider, meter provider)``: no exporters, nothing global."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not switch.on:
            return wrapped(*args, **kwargs)
        return RoutingTracerProvider(), None

    return wrapper


def logging_wrapper(switch: Switch) -> WrapperFunction:
    """``configure_logging(config)``: AgentOps' console logging at its configured level, without ``agentops.log``."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not switch.on:
            return wrapped(*args, **kwargs)
        config = args[0] if args else kwargs.get("config")
        return _console_logging(config)

    return wrapper


def _console_logging(config: Any) -> logging.Logger:
    logger = logging.getLogger("agentops")
    level = _level(os.environ.get("AGENTOPS_LOG_LEVEL", "")) or _level(getattr(config, "log_level", None))
    logger.setLevel(level or logging.CRITICAL)
    for old in logger.handlers[:]:
        logger.removeHandler(old)
    handler = logging.StreamHandler()
    try:  # AgentOps' own console format, when this version has it
        from agentops.logging.formatters import AgentOpsLogFormatter

        handler.setFormatter(AgentOpsLogFormatter())
    except Exception:
        pass
    logger.addHandler(handler)
    return logger


def _level(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        level = logging.getLevelName(value.strip().upper())
        return level if isinstance(level, int) else None
    return None


def intercept_logging_wrapper(switch: Switch) -> WrapperFunction:
    """``intercept_opentelemetry_logging()``: the ``opentelemetry`` logger is left as the program set it."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not switch.on:
            return wrapped(*args, **kwargs)
        return None

    return wrapper


def auth_wrapper(switch: Switch) -> WrapperFunction:
    """``Client._start_auth_task(api_key)``: no request to AgentOps' API."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not switch.on:
            return wrapped(*args, **kwargs)
        return None

    return wrapper


def init_wrapper(switch: Switch) -> WrapperFunction:
    """``Client.init(**options)`` with :data:`FORCED_INIT_OPTIONS`; ``print`` is what it was before."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not switch.on:
            return wrapped(*args, **kwargs)
        printer = builtins.print
        try:
            return wrapped(*args, **{**kwargs, **FORCED_INIT_OPTIONS})
        finally:
            # setup_telemetry (which replaces print) is patched; this also covers an AgentOps version that
            # replaces it elsewhere during init.
            builtins.print = printer

    return wrapper


# AgentOps' instrumentation targets (keys of agentops.instrumentation's PROVIDERS / AGENTIC_LIBRARIES) that an
# agentlightning plugin traces: while that plugin is instrumented, AgentOps' layer for them is not installed, so
# a model call is one span (ours, with the GenAI attributes the adapters read), not one per layer.
COVERED: dict[str, str] = {"openai": "openai", "langgraph": "langchain"}


def _plugin_on(name: str) -> bool:
    from agentlightning.instrumentation import get_instrumentor

    try:
        return get_instrumentor(name).is_instrumented
    except KeyError:
        return False


def perform_instrumentation_wrapper(switch: Switch) -> WrapperFunction:
    """``agentops.instrumentation._perform_instrumentation(package)``: skipped for :data:`COVERED` packages."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if switch.on:
            package = args[0] if args else kwargs.get("package_name")
            plugin = COVERED.get(package) if isinstance(package, str) else None
            if plugin is not None and _plugin_on(plugin):
                return None
        return wrapped(*args, **kwargs)

    return wrapper


async def _skipped() -> None:
    return None


def llm_callback_wrapper(switch: Switch) -> WrapperFunction:
    """AgentOps' LangChain handler's LLM-run callbacks: left to the LangChain plugin's handler while it is on.

    Its ``chat_model.llm`` span would be a second LLM span of the same model call (the adapters count both);
    its chain, tool and agent spans are kept."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if switch.on and _plugin_on("langchain"):
            return _skipped() if inspect.iscoroutinefunction(wrapped) else None  # the async handler's are awaited
        return wrapped(*args, **kwargs)

    return wrapper
