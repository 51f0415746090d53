"""agent-lightning 0.3's names for the AgentOps instrumentation (``agentlightning.instrumentation.agentops``).

::

    from agentlightning.instrumentation.agentops import instrument_agentops, uninstrument_agentops
    instrument_agentops()       # before agentops.init(): AgentOps' spans go to the store, nothing to its cloud

They drive the AgentOps plugin (``agentlightning-agentops``; see its module docstring for what is traced and
how it stays offline), the same process-wide instrumentor ``instrument_all()`` uses. Without the plugin or
AgentOps, importing this module raises an ``ImportError`` naming ``pip install 'agentlightning[agentops]'``.
"""

from __future__ import annotations

from typing import Any

from agentlightning._agentops import require_agentops

require_agentops("agentlightning.instrumentation.agentops")

__all__ = ["instrument_agentops", "uninstrument_agentops"]


def instrument_agentops(**options: Any) -> None:
    """Instrument AgentOps (idempotent); options as for ``instrument_all()``."""
    from agentlightning.instrumentation import instrument

    instrument("agentops", **options)


def uninstrument_agentops() -> None:
    """Remove the AgentOps instrumentation (idempotent); ``builtins.__import__`` is the program's again."""
    from agentlightning.instrumentation import uninstrument

    uninstrument("agentops")
