"""The one error type of the command line: bad input, reported in one line with exit code 2."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """What was wrong and what to do, in one sentence; the command prints it and exits 2."""
