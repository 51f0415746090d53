"""Export every span to an OpenTelemetry collector over OTLP/HTTP, besides the store.

::

    tracer = agl.OtelTracer(otlp_endpoint="http://localhost:4318")     # or set the environment:
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 agentlightning-run my_agent.py
    agentlightning-run --otlp-endpoint http://localhost:4318 my_agent.py

=======================  =====================================================================================
setting                  value
=======================  =====================================================================================
endpoint                 ``otlp_endpoint=`` keyword, else ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as it
                         is), else ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` appended). A keyword or base
                         URL that already ends in ``/v1/traces`` is used as it is. The environment applies only
                         to a tracer provider agentlightning creates: a program that set up its own provider
                         has its own exporters, and exporting twice would duplicate every span.
timeout                  2 s per export (retries included), or ``OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`` /
                         ``OTEL_EXPORTER_OTLP_TIMEOUT`` (seconds) when set
a collector that fails   one warning; batches are then dropped (not retried) for 30 s, so a dead or hanging
                         collector costs the program at most one timeout now and then, never a stall at exit
dependency               ``opentelemetry-exporter-otlp-proto-http`` (``pip install 'agentlightning[otlp]'``),
                         imported only when an endpoint is configured
=======================  =====================================================================================

Spans go through a ``BatchSpanProcessor`` on the tracer's provider (its own thread; the caller never
waits for the network). They are exported at process exit too, with the provider's shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agentlightning._config import option_value

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_TIMEOUT", "install_otlp_export", "traces_url"]

DEFAULT_TIMEOUT: float = option_value("otlp_timeout", environ={})  # the table's default
"""Seconds one export may take, retries included, unless the standard OTLP timeout variables say otherwise."""
COOLDOWN = 30.0
"""Seconds during which batches are dropped after a failed export."""

_TRACES_PATH = "/v1/traces"
_INSTALLED: weakref.WeakKeyDictionary[Any, dict[str, SpanProcessor]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a collector's base URL (``http://host:4318`` -> ``.../v1/traces``)."""
    endpoint = endpoint.strip()
    if endpoint.rstrip("/").endswith(_TRACES_PATH):
        return endpoint
    return endpoint.rstrip("/") + _TRACES_PATH


def _timeout_from_env() -> float:
    timeout: float = option_value("otlp_timeout")  # DEFAULT_TIMEOUT when unset or not a number
    return timeout


def install_otlp_export(
    provider: TracerProvider, endpoint: str, *, timeout: float | None = None, from_env: bool = False
) -> SpanProcessor:
    """Add a batch processor exporting to ``endpoint`` to ``provider`` (once per provider and URL).

    ``endpoint`` is a collector's base URL or a full traces URL; ``from_env`` says it came from
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, which is used exactly as given. Raises ``ImportError`` with the
    install command when the exporter package is missing.
    """
    url = endpoint.strip() if from_env else traces_url(endpoint)
    with _LOCK:
        mine = _INSTALLED.setdefault(provider, {})
        processor = mine.get(url)
        if processor is not None:
            return processor
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise ImportError(
                f"Exporting spans to {url} over OTLP needs opentelemetry-exporter-otlp-proto-http: "
                "pip install 'agentlightning[otlp]'"
            ) from exc
        seconds = timeout if timeout is not None else _timeout_from_env()
        exporter = _GuardedExporter(OTLPSpanExporter(endpoint=url, timeout=seconds), url, seconds)
        processor = BatchSpanProcessor(
            exporter, schedule_delay_millis=1000, export_timeout_millis=int(seconds * 1000) + 500
        )
        provider.add_span_processor(processor)
        mine[url] = processor
        logger.debug("agentlightning: exporting spans to %s over OTLP/HTTP (timeout %s s)", url, seconds)
        return processor


class _GuardedExporter(SpanExporter):
    """The OTLP exporter, behind a breaker: after a failed export, drop batches for :data:`COOLDOWN` seconds."""

    def __init__(self, exporter: SpanExporter, url: str, timeout: float) -> None:
        self.exporter = exporter
        self.url = url
        self.timeout = timeout
        self.dropped = 0
        self._closed_until = 0.0
        self._warned = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if time.monotonic() < self._closed_until:
            self.dropped += len(spans)
            return SpanExportResult.FAILURE
        try:
            result = self.exporter.export(spans)
        except Exception as exc:  # the exporter's own failure never reaches the program
            logger.debug("OTLP export to %s raised", self.url, exc_info=exc)
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self.dropped += len(spans)
            self._closed_until = time.monotonic() + COOLDOWN
            if not self._warned:
                self._warned = True
                logger.warning(
                    "agentlightning could not export spans to the OpenTelemetry collector at %s (no answer within "
                    "%s s); spans are still stored, but batches for the collector are dropped for %d s at a time. "
                    "Check that the collector runs and listens for OTLP/HTTP there.",
                    self.url,
                    self.timeout,
                    COOLDOWN,
                )
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.exporter.force_flush(timeout_millis))
