"""The guard: our own failures never reach the user's call.

Every piece of instrumentation code that runs around a user's call (reading the request, reading the
response, ending a span) runs inside :func:`guard`. When it fails, the guard logs one internal error per
*site* (the name given to the guard), with a sentence the user can act on, and swallows the exception so
the user's call goes on as if it were not instrumented. ``AGENTLIGHTNING_STRICT=1`` (set by the project's
own test suite) makes the guard re-raise instead, so a bug cannot hide behind it.

::

    _RESPONSE = guard("openai.chat.response")   # one reusable, thread-safe guard per site

    with _RESPONSE:
        span.set_attributes(response_attributes(result))

    @guard("langchain.callback")                 # as a decorator: returns None when the body failed
    def on_llm_end(...): ...

The strict flag is read only when a failure happens, never on the hot path, so a test may flip it with
``monkeypatch.setenv("AGENTLIGHTNING_STRICT", "0")``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, cast

from agentlightning._lazylog import lazy_logger
from agentlightning.semconv import STRICT_ENV

__all__ = ["STRICT_ENV", "guard", "reset_guard_reports"]

logger = lazy_logger("agentlightning.instrumentation")

_F = TypeVar("_F", bound=Callable[..., Any])

_reported: set[str] = set()
_reported_lock = threading.Lock()


def _strict() -> bool:
    from ._config import option_value  # read only when a failure happens

    return bool(option_value("strict"))


def _report(site: str, exc: BaseException) -> None:
    with _reported_lock:
        if site in _reported:
            return
        _reported.add(site)
    logger.error(
        "agentlightning instrumentation failed internally at %r (%s: %s). Your call was not affected; only its "
        "trace may be incomplete. Please report this with the traceback below, and set "
        "AGENTLIGHTNING_DISABLED_INSTRUMENTATIONS to skip the instrumentation meanwhile. "
        "(Logged once per site.)",
        site,
        type(exc).__name__,
        exc,
        exc_info=exc,
    )


def reset_guard_reports() -> None:
    """Forget which sites already logged, so the next failure at each site logs again (for tests)."""
    with _reported_lock:
        _reported.clear()


class guard:
    """Context manager and decorator that logs (once per site) and swallows ``Exception`` from its body.

    Instances hold no per-use state, so one instance per site can be created at import time and shared
    by all threads and tasks. ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``,
    ``asyncio.CancelledError``) always passes through.
    """

    __slots__ = ("site",)

    def __init__(self, site: str) -> None:
        self.site = site

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        _report(self.site, exc)
        return not _strict()

    def handle(self, exc: Exception) -> None:
        """For hot loops that use ``try``/``except`` instead of ``with``: report ``exc``, re-raise when strict."""
        _report(self.site, exc)
        if _strict():
            raise exc

    def __call__(self, func: _F) -> _F:
        site = self.site

        @functools.wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                _report(site, exc)
                if _strict():
                    raise
                return None

        return cast(_F, guarded)

    def __repr__(self) -> str:
        return f"guard({self.site!r})"
