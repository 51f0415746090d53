"""Helpers agent-lightning 0.3 programs import from ``agentlightning.utils`` (see :mod:`.otel`)."""
