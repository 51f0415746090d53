"""``AgentOpsTracer`` (``agentlightning.tracer.agentops``, agent-lightning 0.3's module path).

The tracer lives in the AgentOps plugin (``agentlightning-agentops``, ``pip install 'agentlightning[agentops]'``):
an :class:`~agentlightning.OtelTracer` that instruments AgentOps and initializes it offline, so AgentOps'
decorators and LLM instrumentation record into the rollout; see ``agentlightning_agentops._tracer``. Importing
this module without the plugin or without AgentOps raises an ``ImportError`` that says what to install.
``import agentlightning`` never imports it (``agl.AgentOpsTracer`` loads it on first use).
"""

from __future__ import annotations

from agentlightning._agentops import require_agentops

require_agentops("AgentOpsTracer")

from agentlightning_agentops._tracer import AgentOpsTracer  # noqa: E402

__all__ = ["AgentOpsTracer"]
