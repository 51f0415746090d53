"""The one check behind agent-lightning 0.3's AgentOps names (``AgentOpsTracer``, ``instrument_agentops``, ...):
the AgentOps plugin and AgentOps itself installed, else an ``ImportError`` saying what to install."""

from __future__ import annotations

import importlib.util

__all__ = ["require_agentops"]

INSTALL_HINT = "pip install 'agentlightning[agentops]'"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent that fails to import, or a module blocked with None
        return False


def require_agentops(what: str) -> None:
    """Raise ``ImportError`` naming the extra unless the AgentOps plugin and AgentOps can be imported."""
    wanted = (("the AgentOps plugin", "agentlightning_agentops"), ("agentops", "agentops"))
    missing = [name for name, module in wanted if not _installed(module)]
    if missing:
        raise ImportError(
            f"{what} comes with the AgentOps plugin, and {' and '.join(missing)} is not installed: {INSTALL_HINT}"
            + (" (or use agl.OtelTracer(), the default tracer)" if what == "AgentOpsTracer" else ""),
            name=what,
        )
