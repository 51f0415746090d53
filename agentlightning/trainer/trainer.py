"""``Trainer``: run an agent over a dataset with concurrent runners, spans into one store (``agentlightning.trainer``).

::

    trainer = agl.Trainer(n_runners=4, initial_resources={"main_llm": agl.LLM(endpoint=..., model=...)})
    rollouts = trainer.dev(agent, tasks)              # one rollout per task, then return them
    for r in rollouts:
        spans = trainer.store_query_spans(r.rollout_id)
        print(r.status, agl.find_final_reward(spans), trainer.adapter.adapt(spans))

``dev(agent, train_dataset, val_dataset=None)`` enqueues every task (mode ``train``, and ``val`` for the
validation set), lets ``n_runners`` runners work through them concurrently, waits until all are done and
returns the finished rollouts in dataset order. ``fit(...)`` does the same through ``algorithm`` when one
is given (the algorithm enqueues rollouts and reads spans back from the store), else like ``dev``.

All of it runs in one process, in one event loop: async agents run on the loop, sync agents each on a
thread of their own (a timed-out call is abandoned, never waited for). The agent receives the very task
objects of the dataset, whatever the store keeps (SQLite keeps JSON).

A progress bar shows on a terminal. On Ctrl-C the runners stop, their
attempts end ``failed`` and every unfinished rollout of the run is marked ``cancelled``: none is left
``running`` in the store.

Tracing an unchanged script: when a run starts, every installed framework plugin that is not
instrumented yet is instrumented (``instrument_all()``); opt out with ``Trainer(auto_instrument=False)``
or ``AGENTLIGHTNING_AUTO_INSTRUMENT=0``. Inside the rollouts a Trainer runs, prompts and responses are
recorded (``capture_content``), because training data needs them (an OpenAI-compatible server that
returns no token ids leaves the text as the only record of a call); pass ``Trainer(capture_content=False)``
to keep content out of the store. An explicit ``instrument_all(capture_content=...)`` or
``AGENTLIGHTNING_CAPTURE_CONTENT`` wins over both. Outside a Trainer, content capture stays off by default.

``Trainer(n_workers=...)`` is agent-lightning 0.3's name of ``n_runners``; it still works and warns
``DeprecationWarning``.

Defaults: ``tracer=OtelTracer()``, ``adapter=TracerTraceToTriplet()``, ``store=SqliteLightningStore`` at
``$AGENTLIGHTNING_STORE`` or ``.agentlightning/store.db`` in the working directory.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentlightning import semconv
from agentlightning._utils import run_sync
from agentlightning.runner.runner import LitAgentRunner
from agentlightning.types import (
    TERMINAL_ROLLOUT_STATUSES,
    Hook,
    NamedResources,
    Rollout,
    RolloutMode,
    RolloutStatus,
    Span,
)

from ._progress import Progress

if TYPE_CHECKING:
    from agentlightning.litagent.litagent import LitAgent
    from agentlightning.store.base import LightningStore
    from agentlightning.tracer.base import Tracer

logger = logging.getLogger(__name__)

__all__ = ["Trainer"]

DEFAULT_STORE_PATH = os.path.join(".agentlightning", "store.db")
_UNFINISHED: list[RolloutStatus] = ["queuing", "preparing", "running", "requeuing"]


class Trainer:
    """Runs agents over datasets: ``n_runners`` concurrent runners, one store, one tracer.

    ``auto_instrument``: instrument the installed plugins when a run starts (default on, also
    ``AGENTLIGHTNING_AUTO_INSTRUMENT``). ``capture_content``: record prompts and responses in its rollouts
    (default ``True``: training data needs them). ``n_workers``: deprecated name of ``n_runners``.
    """

    def __init__(
        self,
        n_runners: int = 1,
        tracer: Tracer | None = None,
        store: LightningStore | None = None,
        adapter: Any = None,
        algorithm: Any = None,
        initial_resources: NamedResources | None = None,
        hooks: Sequence[Hook] | None = None,
        *,
        llm_proxy: Any = None,
        progress: bool | None = None,
        poll_interval: float = 0.02,
        auto_instrument: bool | None = None,
        capture_content: bool = True,
        n_workers: int | None = None,
    ) -> None:
        if n_workers is not None:
            warnings.warn(
                "Trainer(n_workers=) is deprecated; use Trainer(n_runners=)", DeprecationWarning, stacklevel=2
            )
            if n_runners != 1 and n_runners != n_workers:
                raise ValueError(
                    f"Trainer got n_runners={n_runners!r} and n_workers={n_workers!r}; pass only n_runners"
                )
            n_runners = n_workers
        if not isinstance(n_runners, int) or n_runners < 1:
            raise ValueError(f"n_runners must be a positive int, got {n_runners!r}")
        self.n_runners = n_runners
        self._tracer = tracer
        self._store = store
        self._adapter = adapter
        self.algorithm = algorithm
        self.initial_resources = initial_resources
        self.hooks = list(hooks or [])
        self.llm_proxy = llm_proxy
        self.progress = progress
        self.poll_interval = poll_interval
        self.auto_instrument = auto_instrument
        self.capture_content = capture_content
        self.last_rollouts: list[Rollout] = []
        self._tasks: dict[str, Any] = {}

    # ---- defaults, made on first use ------------------------------------------------------------

    @property
    def tracer(self) -> Tracer:
        if self._tracer is None:
            from agentlightning.tracer.otel import OtelTracer

            self._tracer = OtelTracer()
        return self._tracer

    @property
    def store(self) -> LightningStore:
        if self._store is None:
            from agentlightning.store.sqlite import SqliteLightningStore

            self._store = SqliteLightningStore(os.environ.get(semconv.STORE_ENV) or DEFAULT_STORE_PATH)
        return self._store

    @property
    def adapter(self) -> Any:
        if self._adapter is None:
            from agentlightning.adapter import TracerTraceToTriplet

            self._adapter = TracerTraceToTriplet()
        return self._adapter

    def store_query_spans(self, rollout_id: str, attempt_id: str | None = "latest") -> list[Span]:
        """The spans of a rollout (its latest attempt by default), from synchronous code."""
        return run_sync(self.store.query_spans(rollout_id, attempt_id))

    # ---- entry points ---------------------------------------------------------------------------

    def dev(self, agent: LitAgent[Any], train_dataset: Any, *, val_dataset: Any = None) -> list[Rollout]:
        """Run ``agent`` once over every task; return the finished rollouts (train tasks first, in order)."""
        return self._run_blocking(self.dev_async(agent, train_dataset, val_dataset=val_dataset))

    def fit(self, agent: LitAgent[Any], train_dataset: Any = None, *, val_dataset: Any = None) -> list[Rollout]:
        """Run ``algorithm`` (or, without one, the same as :meth:`dev`); return the rollouts of the run."""
        return self._run_blocking(self.fit_async(agent, train_dataset, val_dataset=val_dataset))

    async def dev_async(self, agent: LitAgent[Any], train_dataset: Any, *, val_dataset: Any = None) -> list[Rollout]:
        return await self._run(agent, self._dev_algorithm, train_dataset, val_dataset)

    async def fit_async(
        self, agent: LitAgent[Any], train_dataset: Any = None, *, val_dataset: Any = None
    ) -> list[Rollout]:
        if self.algorithm is None:
            return await self.dev_async(agent, train_dataset, val_dataset=val_dataset)
        return await self._run(agent, self._user_algorithm, train_dataset, val_dataset)

    def _run_blocking(self, coro: Any) -> list[Rollout]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        return run_sync(coro)  # called from inside an event loop (a notebook, say): run on a helper thread

    # ---- the run --------------------------------------------------------------------------------

    async def _run(self, agent: LitAgent[Any], algorithm: Any, train_dataset: Any, val_dataset: Any) -> list[Rollout]:
        from agentlightning.litagent.litagent import LitAgent

        if not isinstance(agent, LitAgent):
            raise TypeError(
                f"The agent must be a LitAgent, got {type(agent).__name__} {agent!r}: decorate the function with "
                "@agl.rollout (or @agl.llm_rollout / @agl.prompt_rollout), or subclass agl.LitAgent"
            )
        store, tracer = self.store, self.tracer
        started = time.time()
        await self._warn_about_leftovers(started)
        tracer.init()
        agent.set_trainer(self)
        resources_id = None
        if self.initial_resources:
            resources_id = (await store.add_resources(self.initial_resources)).resources_id
        self._tasks = {}
        runners = []
        for index in range(self.n_runners):
            runner: LitAgentRunner[Any] = LitAgentRunner(
                tracer,
                poll_interval=self.poll_interval,
                auto_instrument=self.auto_instrument,
                capture_content=True if self.capture_content else None,
            )
            runner.init(agent, hooks=self.hooks, tasks=self._tasks)
            runner.init_worker(f"runner-{index}", store)
            runners.append(runner)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(runner.iter(stop=stop), name=f"agentlightning-{runner.worker_id}") for runner in runners
        ]
        ids: list[str] | None = None
        finished_cleanly = False
        try:
            ids = await algorithm(agent, train_dataset, val_dataset, resources_id, tasks)
            stop.set()
            await asyncio.gather(*tasks)
            finished_cleanly = True
        finally:
            stop.set()
            if not finished_cleanly:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self._cancel_unfinished(started)
            for runner in runners:
                runner.teardown_worker(runner.worker_id)
            tracer.teardown()  # pairs with init(): stops the span writers (their spans are stored by now)
        if ids is None:
            ids = [r.rollout_id for r in await store.query_rollouts() if r.start_time >= started]
        by_id = {r.rollout_id: r for r in await store.query_rollouts(rollout_id_in=ids)}
        self.last_rollouts = [by_id[i] for i in ids if i in by_id]
        return self.last_rollouts

    async def _dev_algorithm(
        self, agent: LitAgent[Any], train_dataset: Any, val_dataset: Any, resources_id: str | None, tasks: list[Any]
    ) -> list[str]:
        store = self.store
        ids: list[str] = []
        modes: list[tuple[Any, RolloutMode]] = [(train_dataset, "train"), (val_dataset, "val")]
        for dataset, mode in modes:
            if dataset is None:
                continue
            for index in range(len(dataset)):
                task = dataset[index]
                rollout = await store.enqueue_rollout(input=task, mode=mode, resources_id=resources_id)
                self._tasks[rollout.rollout_id] = task  # the agent gets this object, not the store's JSON copy
                ids.append(rollout.rollout_id)
        progress = Progress(len(ids), f"{getattr(agent, '__name__', type(agent).__name__)}", self.progress)
        pending = set(ids)
        try:
            while pending:
                for task in tasks:  # a runner that crashed would leave us waiting forever
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                finished = await store.wait_for_rollouts(list(pending), timeout=0.5)
                for rollout in finished:
                    pending.discard(rollout.rollout_id)
                failed = sum(1 for r in finished if r.status != "succeeded")
                progress.advance(len(finished) - failed, failed)
        finally:
            progress.close()
        return ids

    async def _user_algorithm(
        self, agent: LitAgent[Any], train_dataset: Any, val_dataset: Any, resources_id: str | None, tasks: list[Any]
    ) -> None:
        algorithm = self.algorithm
        algorithm.set_trainer(self)
        algorithm.set_store(self.store)
        algorithm.set_adapter(self.adapter)
        if self.initial_resources is not None:
            algorithm.set_initial_resources(self.initial_resources)
        if self.llm_proxy is not None:
            algorithm.set_llm_proxy(self.llm_proxy)
        result = algorithm.run(train_dataset=train_dataset, val_dataset=val_dataset)
        if inspect.isawaitable(result):
            await result
        return None

    async def _warn_about_leftovers(self, since: float) -> None:
        """Rollouts queued by an earlier run that never finished (it was killed) would be run by ours: say so."""
        queued = await self.store.query_rollouts(status_in=["queuing", "requeuing"])
        leftovers = [r for r in queued if r.start_time < since]
        if leftovers:
            logger.warning(
                "The store %r holds %d queued rollouts from an earlier run that did not finish (the first: %s); "
                "this run's runners will take them too. Use a fresh store, or cancel them with "
                "store.update_rollout(rollout_id, status='cancelled').",
                getattr(self.store, "path", self.store),
                len(leftovers),
                leftovers[0].rollout_id,
            )

    async def _cancel_unfinished(self, since: float) -> None:
        """After an interruption: end running attempts ``failed`` and unfinished rollouts ``cancelled``."""
        store = self.store
        try:
            for rollout in await store.query_rollouts(status_in=_UNFINISHED):
                if rollout.start_time < since:
                    continue
                latest = await store.get_latest_attempt(rollout.rollout_id)
                if latest is not None and latest.status in ("preparing", "running"):
                    await store.update_attempt(rollout.rollout_id, latest.attempt_id, status="failed")
                current = await store.get_rollout_by_id(rollout.rollout_id)
                if current is not None and current.status not in TERMINAL_ROLLOUT_STATUSES:
                    await store.update_rollout(rollout.rollout_id, status="cancelled")
        except Exception:
            logger.exception("agentlightning could not mark the interrupted rollouts as cancelled")
