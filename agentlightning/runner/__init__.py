"""Runners execute agents over rollouts taken from a store (``agentlightning.runner``)."""

from __future__ import annotations

from .runner import LitAgentRunner

__all__ = ["LitAgentRunner"]
