"""Shared test set-up.

``AGENTLIGHTNING_STRICT=1`` makes the instrumentation guard re-raise instead of swallowing, so a bug in
our own wrappers fails the test that triggered it instead of hiding (the habit of Sentry's and Logfire's
test suites).
"""

from __future__ import annotations

import os

os.environ.setdefault("AGENTLIGHTNING_STRICT", "1")
