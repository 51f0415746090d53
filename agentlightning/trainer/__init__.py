"""The trainer runs agents over datasets with concurrent runners (``agentlightning.trainer``)."""

from __future__ import annotations

from .trainer import Trainer

__all__ = ["Trainer"]
