"""agentlightning: trace and optimize existing AI agents without changing their code."""

from __future__ import annotations

from .types import *  # noqa: F403
from .types import __all__ as _types_all

__version__ = "0.1.0"
__all__ = sorted([*_types_all])
