"""The trace context follows work into the threads an agent starts.

A new thread starts with an empty ``contextvars`` context, so without help an LLM call made on a worker
thread would see no rollout and no OpenTelemetry parent, and its span would be lost. Like OpenTelemetry's
threading instrumentation, agentlightning hands the caller's context over where work changes threads:

- ``concurrent.futures.ThreadPoolExecutor.submit`` (and so ``loop.run_in_executor``): the callable runs in
  a copy of the submitting caller's context;
- ``threading.Thread.start``: the thread's ``run`` (including a subclass's own ``run``) runs in a copy of
  the starting caller's context.

The whole ``contextvars`` context is copied, so the rollout (our ContextVar) and the OpenTelemetry context
(the current span, a ``suppress_instrumentation`` flag) travel together; ``asyncio.to_thread`` already
did this. Nothing is copied when no trace context is active: the cost outside rollouts is one ContextVar
read per ``submit``/``start``. Executors and threads created before installation are covered too: the
patch is on the classes. The threads an executor starts for itself never keep a caller's context (each
task carries its own).

Installed by the first :class:`~agentlightning.OtelTracer` that is used (not by ``import agentlightning``);
:func:`uninstall_context_propagation` removes it, :func:`install_context_propagation` puts it back.
A wrapper another library put on top of ours stays in place and keeps working; ours then only passes calls
through.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ._state import _CURRENT

__all__ = ["context_propagation_installed", "install_context_propagation", "uninstall_context_propagation"]

_LOCK = threading.Lock()
_ENABLED = False
# What each class attribute was when we patched it (the standard library's, or another library's wrapper).
_ORIGINAL_SUBMIT: Callable[..., Future[Any]] = ThreadPoolExecutor.submit
_ORIGINAL_START: Callable[[threading.Thread], None] = threading.Thread.start


def _submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
    if not _ENABLED or _CURRENT.get() is None:
        return _ORIGINAL_SUBMIT(self, fn, *args, **kwargs)
    context = contextvars.copy_context()
    # The pool's own worker threads, started inside submit, must not inherit the caller's context for their
    # whole life: submit runs in an empty context, the task in the copy.
    return contextvars.Context().run(_ORIGINAL_SUBMIT, self, context.run, fn, *args, **kwargs)


def _start(self: threading.Thread) -> None:
    if not _ENABLED or _CURRENT.get() is None:
        return _ORIGINAL_START(self)
    context = contextvars.copy_context()
    run = self.run  # the bound method, a subclass's own included

    def run_in_context() -> None:
        try:
            context.run(run)
        finally:
            self.__dict__.pop("run", None)  # the thread object keeps neither the context nor our function

    self.run = run_in_context  # type: ignore[method-assign]
    try:
        _ORIGINAL_START(self)
    except BaseException:
        self.__dict__.pop("run", None)  # e.g. "threads can only be started once": leave the object as it was
        raise


def _ours_in(func: Any, ours: Any) -> bool:
    """Whether ``ours`` is ``func`` or somewhere in its chain of ``__wrapped__`` wrappers."""
    for _ in range(32):
        if func is ours:
            return True
        func = getattr(func, "__wrapped__", None)
        if func is None:
            return False
    return False


def install_context_propagation() -> None:
    """Make thread pools and threads carry the caller's trace context (idempotent)."""
    global _ENABLED, _ORIGINAL_SUBMIT, _ORIGINAL_START
    with _LOCK:
        _ENABLED = True
        if not _ours_in(ThreadPoolExecutor.submit, _submit):
            _ORIGINAL_SUBMIT = ThreadPoolExecutor.submit
            _submit.__wrapped__ = _ORIGINAL_SUBMIT  # type: ignore[attr-defined]
            ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign,assignment]
        if not _ours_in(threading.Thread.start, _start):
            _ORIGINAL_START = threading.Thread.start
            _start.__wrapped__ = _ORIGINAL_START  # type: ignore[attr-defined]
            threading.Thread.start = _start  # type: ignore[method-assign]


def uninstall_context_propagation() -> None:
    """Stop propagating. The previous methods are back, unless another library wrapped ours meanwhile: then
    its wrapper stays and ours only passes calls through."""
    global _ENABLED
    with _LOCK:
        _ENABLED = False
        if ThreadPoolExecutor.submit is _submit:
            ThreadPoolExecutor.submit = _ORIGINAL_SUBMIT  # type: ignore[method-assign,assignment]
        if threading.Thread.start is _start:
            threading.Thread.start = _ORIGINAL_START  # type: ignore[method-assign,assignment]


def context_propagation_installed() -> bool:
    """Whether thread pools and threads currently carry the trace context."""
    return _ENABLED
