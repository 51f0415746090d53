"""How the handler reaches every LangChain run: one inheritable configure hook, registered once per process.

``langchain_core.tracers.context.register_configure_hook(var, inheritable=True)`` makes every callback
manager LangChain configures (``invoke``, ``stream``, ``astream_events``, LangGraph nodes, tools run by an
executor on another thread, and calls that pass their own ``callbacks=``) add ``var.get()`` when it is not
``None``, as an inheritable handler, so child runs get it too. LangChain has no unregister API, and a real
``ContextVar`` set here would not be seen by threads started later (they begin with an empty context), so the
registered "variable" is a process-wide slot with a ``get()``: instrument puts the handler in it, uninstrument
puts ``None`` back, and the hook stays registered but inert.
"""

from __future__ import annotations

import threading
from typing import Any, cast

__all__ = ["SLOT", "register"]


class _Slot:
    """The handler every callback manager picks up (``None``: nothing is added)."""

    __slots__ = ("handler",)

    def __init__(self) -> None:
        self.handler: Any = None

    def get(self, default: Any = None) -> Any:
        handler = self.handler
        return default if handler is None else handler


SLOT = _Slot()
_registered = False
_lock = threading.Lock()


def register() -> None:
    """Register the slot with LangChain (once per process; later calls do nothing)."""
    global _registered
    with _lock:
        if _registered:
            return
        from langchain_core.tracers.context import register_configure_hook

        register_configure_hook(cast(Any, SLOT), True)
        _registered = True
