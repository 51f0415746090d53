"""``AgentOpsTracer``: agent-lightning 0.3's tracer name, on this plugin (``agentlightning.AgentOpsTracer``).

::

    trainer = agl.Trainer(tracer=agl.AgentOpsTracer(), n_runners=2, ...)

It is an :class:`~agentlightning.OtelTracer` (same store writer, same rollout attribution across threads and
tasks, same ``get_last_trace``, flush at context exit and process exit) that, when it starts (``init()`` /
``init_worker()``), makes its provider global first, instruments AgentOps (this plugin: offline, spans on the
global provider) and calls ``agentops.init()``, so that AgentOps' decorators (``@agent``, ``@operation``,
``@tool``, ``@task``) and its LLM instrumentation produce spans in the rollout. 0.3 ran a local stand-in for
AgentOps' server for this; nothing is served or sent here, so its ``daemon`` keyword has no effect.

AgentOps' own LLM instrumentation stays off in the managed ``agentops.init()`` (``instrument_llm_calls=False``):
the ``Trainer`` instruments every installed agentlightning plugin, which trace the model calls with the GenAI
attributes the adapters read; ``AgentOpsTracer(instrument_llm_calls=True)`` turns AgentOps' on too (providers
no plugin covers; one model call is still one LLM span where the OpenAI plugin sees it as well).
``agentops_managed=False``: the program calls ``agentops.init()`` itself (after the tracer started).
``instrument_managed=False``: the program instruments (``agl.instrument_all()``) itself. ``teardown()`` takes
back what the tracer turned on (the AgentOps instrumentation and with it AgentOps' import hook).
"""

from __future__ import annotations

import threading
from typing import Any

from agentlightning.tracer.otel import OtelTracer

__all__ = ["AgentOpsTracer"]


class AgentOpsTracer(OtelTracer):
    """The OpenTelemetry tracer with AgentOps instrumented and initialized (offline); see the module docstring."""

    def __init__(
        self,
        *,
        agentops_managed: bool = True,
        instrument_managed: bool = True,
        daemon: bool = True,
        instrument_llm_calls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.agentops_managed = agentops_managed
        self.instrument_managed = instrument_managed
        self.instrument_llm_calls = instrument_llm_calls
        self.daemon = daemon  # 0.3: the local AgentOps server's thread; there is no server here
        self._started = False
        self._instrumented_here = False
        self._start_lock = threading.Lock()

    def init(self, *args: Any, **kwargs: Any) -> None:
        super().init(*args, **kwargs)
        self._start_agentops()

    def init_worker(self, worker_id: int | str, store: Any = None, *args: Any, **kwargs: Any) -> None:
        super().init_worker(worker_id, store, *args, **kwargs)
        self._start_agentops()

    def teardown(self, *args: Any, **kwargs: Any) -> None:
        super().teardown(*args, **kwargs)
        with self._start_lock:
            instrumented, self._instrumented_here = self._instrumented_here, False
            self._started = False
        if instrumented:
            from agentlightning.instrumentation import uninstrument

            uninstrument("agentops")

    def _start_agentops(self) -> None:
        with self._start_lock:
            if self._started:
                return
            self._ensure_provider()  # global before agentops.init(), which then finds it there
            if self.instrument_managed:
                from agentlightning.instrumentation import get_instrumentor, instrument

                if not get_instrumentor("agentops").is_instrumented:
                    instrument("agentops")
                    self._instrumented_here = True
            if self.agentops_managed:
                import agentops

                # Offline whatever the environment says (the plugin's patches); a second init() is a no-op.
                agentops.init(instrument_llm_calls=self.instrument_llm_calls)
            self._started = True
