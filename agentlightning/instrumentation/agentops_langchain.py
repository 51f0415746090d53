"""agent-lightning 0.3's names for LangChain with AgentOps (``agentlightning.instrumentation.agentops_langchain``).

::

    from agentlightning.instrumentation.agentops_langchain import instrument_agentops_langchain
    instrument_agentops_langchain()

turns on the AgentOps plugin and the LangChain plugin together: LangChain and LangGraph runs become spans in the
store (the LangChain plugin's handler joins every run), and when the program also passes AgentOps' own
``LangchainCallbackHandler``, that handler's spans land in the same store, offline. Without the AgentOps plugin
or AgentOps, importing this module raises an ``ImportError`` naming ``pip install 'agentlightning[agentops]'``.
"""

from __future__ import annotations

from typing import Any

from agentlightning._agentops import require_agentops

require_agentops("agentlightning.instrumentation.agentops_langchain")

__all__ = ["instrument_agentops_langchain", "uninstrument_agentops_langchain"]


def instrument_agentops_langchain(**options: Any) -> None:
    """Instrument AgentOps and LangChain (idempotent); options as for ``instrument_all()``."""
    from agentlightning.instrumentation import instrument

    instrument("agentops", **options)
    instrument("langchain", **options)


def uninstrument_agentops_langchain() -> None:
    """Remove both instrumentations (idempotent)."""
    from agentlightning.instrumentation import uninstrument

    uninstrument("langchain")
    uninstrument("agentops")
