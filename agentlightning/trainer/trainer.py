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

``rollout_config`` (a :class:`~agentlightning.RolloutConfig` or a dict of its fields) sets the time limits
and retries of the rollouts a run enqueues, e.g. ``trainer.dev(agent, tasks, rollout_config={"timeout_seconds":
60, "max_attempts": 2, "retry_condition": ["timeout", "failed"]})``. Datasets are lists or anything indexable
with a length (a tuple, a ``datasets.Dataset``); a generator or a dict is refused at the call.

Runs sharing a store. Every ``dev``/``fit`` call is a run with a fresh ``run_id`` (``trainer.run_id``), which
every rollout it enqueues carries; its runners take only rollouts of that run. So two scripts running at once
on the default store file never run each other's tasks, and a run never picks up what an earlier, killed run
left queued (it warns about such rollouts and leaves them alone). An algorithm gets the store as a
:class:`~agentlightning.store.RunStore`: what it enqueues is tagged with the run, and its queries see only the
run's rollouts, without any change to its code. Rollouts enqueued straight on ``trainer.store`` carry no run
and are not taken by a run's runners.

Dead runners. While an agent works, a heartbeat thread of the runner process updates its attempt every few
seconds, whatever the agent's own thread is doing. A run's rollouts have ``unresponsive_seconds`` of
:data:`DEFAULT_UNRESPONSIVE_SECONDS` unless ``rollout_config`` sets it (``None`` turns it off): far longer than
the beat, so it never trips while the runner lives. When the process is killed (``kill -9``, a crash of the
machine), the beats stop; the next time anyone uses the store after that delay, the attempt is marked
``unresponsive`` and the rollout is retried (if ``retry_condition`` includes ``"unresponsive"`` and attempts
remain) by a runner of *its own* run, or else ``failed``: never run by another run's agent.

A progress bar shows on a terminal. On Ctrl-C the runners stop, and every unfinished rollout of the run,
in flight or queued, is marked ``cancelled`` (the attempts that were running end ``failed``): none is left
``running`` in the store, none counts as the agent's failure.

Tracing an unchanged script: when a run starts, every installed framework plugin that is not
instrumented yet is instrumented (``instrument_all()``); opt out with ``Trainer(auto_instrument=False)``
or ``AGENTLIGHTNING_AUTO_INSTRUMENT=0``. Inside the rollouts a Trainer runs, prompts and responses are
recorded (``capture_content``), because training data needs them (an OpenAI-compatible server that
returns no token ids leaves the text as the only record of a call); pass ``Trainer(capture_content=False)``
to keep content out of the store. An explicit ``instrument_all(capture_content=...)`` or
``AGENTLIGHTNING_CAPTURE_CONTENT`` wins over both. Outside a Trainer, content capture stays off by default.

Workers on other processes or hosts. ``Trainer(n_runners=0)`` starts no runner: it enqueues the run's
rollouts and waits for external workers, ``agentlightning worker --store URL --agent module:attr -n N``
(:mod:`agentlightning.cli._worker`), started on any host that reaches the same store (a SQLite file on one
machine, PostgreSQL for several). The workers find the run's rollouts by its run id: without ``--run-id`` a
worker takes the rollouts of any run; with it, only that run's. To know the id before the run, set it:
``Trainer(run_id="exp-7")`` or ``AGENTLIGHTNING_RUN_ID=exp-7`` (the keyword wins), and give workers the same
``--run-id`` (or ``AGENTLIGHTNING_RUN_ID``); every ``dev``/``fit`` call of that Trainer then uses that id.
Otherwise each call makes a fresh id, and a Trainer with ``n_runners=0`` logs it (and prints it on standard
error) with the command to start a worker for it. External workers get the task as the store keeps it
(JSON), not the dataset's object; the store must be one other processes can open (not
:class:`~agentlightning.store.InMemoryLightningStore`, refused with ``ValueError``).

``Trainer(n_workers=...)`` is agent-lightning 0.3's name of ``n_runners``; it still works and warns
``DeprecationWarning``.

Defaults: ``tracer=OtelTracer()``, ``adapter=TracerTraceToTriplet()``, ``store=open_store(...)`` of
``$AGENTLIGHTNING_STORE`` (a path: SQLite; a ``postgresql://`` URL: PostgreSQL) or ``.agentlightning/store.db``
in the working directory.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentlightning import semconv
from agentlightning._config import option_value
from agentlightning._utils import run_sync
from agentlightning.runner._heartbeat import Heartbeat
from agentlightning.runner.runner import LitAgentRunner
from agentlightning.store._run import RunStore
from agentlightning.types import (
    Hook,
    NamedResources,
    Rollout,
    RolloutConfig,
    RolloutMode,
    RolloutStatus,
    Span,
    to_rollout_config,
)

from ._progress import Progress

if TYPE_CHECKING:
    from agentlightning.litagent.litagent import LitAgent
    from agentlightning.store.base import LightningStore
    from agentlightning.tracer.base import Tracer

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_UNRESPONSIVE_SECONDS", "Trainer"]

#: The run id of a Trainer's runs and of ``agentlightning worker`` when ``run_id=`` / ``--run-id`` are not given.
RUN_ID_ENV = semconv.RUN_ID_ENV
#: ``unresponsive_seconds`` of a run's rollouts unless its ``rollout_config`` sets it: 30 missed heartbeats.
DEFAULT_UNRESPONSIVE_SECONDS = 300.0
_UNFINISHED: list[RolloutStatus] = ["queuing", "preparing", "running", "requeuing"]


class Trainer:
    """Runs agents over datasets: ``n_runners`` concurrent runners, one store, one tracer.

    ``n_runners=0``: no runner in this process; external ``agentlightning worker`` processes run the
    rollouts (see the module docstring). ``run_id``: the id of every run (default
    ``$AGENTLIGHTNING_RUN_ID``, else a fresh one per run).

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
        run_id: str | None = None,
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
        if not isinstance(n_runners, int) or isinstance(n_runners, bool) or n_runners < 0:
            raise ValueError(
                f"n_runners must be an int >= 0 (0: external `agentlightning worker` processes), got {n_runners!r}"
            )
        if run_id is not None and (not isinstance(run_id, str) or not run_id.strip()):
            raise ValueError(f"run_id must be a non-empty str, got {run_id!r}")
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
        self._fixed_run_id: str | None = option_value("run_id", run_id or None)
        self.run_id: str | None = self._fixed_run_id
        """The id of the current (or last) run: every rollout it enqueued carries it."""
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
            from agentlightning.store import open_store

            self._store = open_store(option_value("store"))
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

    def dev(
        self,
        agent: LitAgent[Any],
        train_dataset: Any,
        *,
        val_dataset: Any = None,
        rollout_config: RolloutConfig | Mapping[str, Any] | None = None,
    ) -> list[Rollout]:
        """Run ``agent`` once over every task; return the finished rollouts (train tasks first, in order).

        ``rollout_config``: time limits and retries of the rollouts (see the module docstring).
        """
        config = _run_config(rollout_config)
        _check_datasets(train_dataset, val_dataset, train_required=True)
        return self._run_blocking(self._run(agent, self._dev_algorithm, train_dataset, val_dataset, config))

    def fit(
        self,
        agent: LitAgent[Any],
        train_dataset: Any = None,
        *,
        val_dataset: Any = None,
        rollout_config: RolloutConfig | Mapping[str, Any] | None = None,
    ) -> list[Rollout]:
        """Run ``algorithm`` (or, without one, the same as :meth:`dev`); return the rollouts of the run.

        ``rollout_config`` applies to the rollouts the algorithm enqueues without a config of its own.
        """
        config = _run_config(rollout_config)
        if self.algorithm is None:
            _check_datasets(train_dataset, val_dataset, train_required=True)
            return self._run_blocking(self._run(agent, self._dev_algorithm, train_dataset, val_dataset, config))
        return self._run_blocking(self._run(agent, self._user_algorithm, train_dataset, val_dataset, config))

    async def dev_async(
        self,
        agent: LitAgent[Any],
        train_dataset: Any,
        *,
        val_dataset: Any = None,
        rollout_config: RolloutConfig | Mapping[str, Any] | None = None,
    ) -> list[Rollout]:
        config = _run_config(rollout_config)
        _check_datasets(train_dataset, val_dataset, train_required=True)
        return await self._run(agent, self._dev_algorithm, train_dataset, val_dataset, config)

    async def fit_async(
        self,
        agent: LitAgent[Any],
        train_dataset: Any = None,
        *,
        val_dataset: Any = None,
        rollout_config: RolloutConfig | Mapping[str, Any] | None = None,
    ) -> list[Rollout]:
        if self.algorithm is None:
            return await self.dev_async(agent, train_dataset, val_dataset=val_dataset, rollout_config=rollout_config)
        config = _run_config(rollout_config)
        return await self._run(agent, self._user_algorithm, train_dataset, val_dataset, config)

    def _run_blocking(self, coro: Any) -> list[Rollout]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        return run_sync(coro)  # called from inside an event loop (a notebook, say): run on a helper thread

    # ---- the run --------------------------------------------------------------------------------

    async def _run(
        self, agent: LitAgent[Any], algorithm: Any, train_dataset: Any, val_dataset: Any, config: RolloutConfig
    ) -> list[Rollout]:
        from agentlightning.litagent.litagent import LitAgent

        if not isinstance(agent, LitAgent):
            raise TypeError(
                f"The agent must be a LitAgent, got {type(agent).__name__} {agent!r}: decorate the function with "
                "@agl.rollout (or @agl.llm_rollout / @agl.prompt_rollout), or subclass agl.LitAgent"
            )
        store, tracer = self.store, self.tracer
        if self.n_runners == 0:
            from agentlightning.store.memory import InMemoryLightningStore

            if isinstance(store, InMemoryLightningStore):
                raise ValueError(
                    "Trainer(n_runners=0) waits for external workers, which cannot reach an in-memory store; "
                    "use a SQLite file or a postgresql:// store (store=open_store(...) or AGENTLIGHTNING_STORE)"
                )
        run_id = self.run_id = self._fixed_run_id or "run-" + secrets.token_hex(6)
        if self.n_runners == 0:
            self._announce(run_id)
        run_store = RunStore(store, run_id, config)
        await self._warn_about_leftovers()
        tracer.init()
        agent.set_trainer(self)
        resources_id = None
        if self.initial_resources:
            resources_id = (await store.add_resources(self.initial_resources)).resources_id
        self._tasks = {}
        heartbeat = Heartbeat(store)
        runners = []
        for index in range(self.n_runners):
            runner: LitAgentRunner[Any] = LitAgentRunner(
                tracer,
                poll_interval=self.poll_interval,
                auto_instrument=self.auto_instrument,
                capture_content=True if self.capture_content else None,
            )
            runner.init(agent, hooks=self.hooks, tasks=self._tasks)
            runner.init_worker(f"runner-{index}", store, run_id=run_id, heartbeat=heartbeat)
            runners.append(runner)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(runner.iter(stop=stop), name=f"agentlightning-{runner.worker_id}") for runner in runners
        ]
        ids: list[str] | None = None
        finished_cleanly = False
        try:
            ids = await algorithm(agent, run_store, train_dataset, val_dataset, resources_id, tasks)
            stop.set()
            await asyncio.gather(*tasks)
            finished_cleanly = True
        finally:
            stop.set()
            if not finished_cleanly:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self._cancel_unfinished(run_store)
            heartbeat.stop()
            for runner in runners:
                runner.teardown_worker(runner.worker_id)
            tracer.teardown()  # pairs with init(): stops the span writers (their spans are stored by now)
        if ids is None:
            ids = [r.rollout_id for r in await run_store.query_rollouts()]
        by_id = {r.rollout_id: r for r in await store.query_rollouts(rollout_id_in=ids)}
        self.last_rollouts = [by_id[i] for i in ids if i in by_id]
        return self.last_rollouts

    async def _dev_algorithm(
        self,
        agent: LitAgent[Any],
        store: RunStore,
        train_dataset: Any,
        val_dataset: Any,
        resources_id: str | None,
        tasks: list[Any],
    ) -> list[str]:
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
        self,
        agent: LitAgent[Any],
        store: RunStore,
        train_dataset: Any,
        val_dataset: Any,
        resources_id: str | None,
        tasks: list[Any],
    ) -> None:
        algorithm = self.algorithm
        algorithm.set_trainer(self)
        algorithm.set_store(store)
        algorithm.set_adapter(self.adapter)
        if self.initial_resources is not None:
            algorithm.set_initial_resources(self.initial_resources)
        if self.llm_proxy is not None:
            algorithm.set_llm_proxy(self.llm_proxy)
        result = algorithm.run(train_dataset=train_dataset, val_dataset=val_dataset)
        if inspect.isawaitable(result):
            await result
        return None

    def _announce(self, run_id: str) -> None:
        """``n_runners=0``: say which run the external workers should serve, and how to start one."""
        where = getattr(self.store, "path", None) or "URL"  # a URL may hold a password: never printed
        message = (
            f"agentlightning: run {run_id} waits for external workers; start them with "
            f"`agentlightning worker --store {where} --agent MODULE:ATTR --run-id {run_id}`"
        )
        logger.info(message)
        print(message, file=sys.stderr, flush=True)

    async def _warn_about_leftovers(self) -> None:
        """Say which unfinished rollouts of other runs the store holds, and that this run leaves them alone.

        Reading them also lets the store mark attempts whose runner died (no heartbeat) ``unresponsive``.
        """
        others = await self.store.query_rollouts(status_in=_UNFINISHED)
        if others:
            runs = sorted({r.run_id or "no run" for r in others})
            logger.warning(
                "The store %r holds %d unfinished rollouts of other runs (%s; the first: %s), from runs going on "
                "in another process or runs that were interrupted. This run will not take them: each run's "
                "runners take only the rollouts it enqueued. Rollouts of a killed run stay queued, or running "
                "until their attempt is found unresponsive and failed; cancel them with "
                "store.update_rollout(rollout_id, status='cancelled'), or use a fresh store.",
                getattr(self.store, "path", self.store),
                len(others),
                ", ".join(runs[:3]) + (", ..." if len(runs) > 3 else ""),
                others[0].rollout_id,
            )

    async def _cancel_unfinished(self, store: RunStore) -> None:
        """After an interruption: every unfinished rollout of the run is ``cancelled`` (the store ends attempts)."""
        try:
            for rollout in await store.query_rollouts(status_in=_UNFINISHED):
                await store.update_rollout(rollout.rollout_id, status="cancelled")
        except Exception:
            logger.exception("agentlightning could not mark the interrupted rollouts as cancelled")


def _run_config(config: Any) -> RolloutConfig:
    """The config of a run's rollouts: the given one (or defaults), with the run's ``unresponsive_seconds``."""
    checked = to_rollout_config(dict(config) if isinstance(config, Mapping) else config, "rollout_config")
    if checked is None:
        checked = RolloutConfig()
    if "unresponsive_seconds" not in checked.model_fields_set:
        checked = checked.model_copy(update={"unresponsive_seconds": DEFAULT_UNRESPONSIVE_SECONDS})
    return checked


def _check_datasets(train_dataset: Any, val_dataset: Any, *, train_required: bool) -> None:
    """A dataset the trainer indexes must be a list or a Dataset: refuse the rest now, not deep inside."""
    for name, dataset in (("train_dataset", train_dataset), ("val_dataset", val_dataset)):
        if dataset is None and not (train_required and name == "train_dataset"):
            continue
        if (
            isinstance(dataset, (Mapping, str, bytes))
            or not hasattr(dataset, "__len__")
            or not hasattr(dataset, "__getitem__")
        ):
            hint = "list(...) of it" if hasattr(dataset, "__iter__") and not isinstance(dataset, Mapping) else ""
            if isinstance(dataset, Mapping):
                hint = "list(d.values()) for its values"
            raise TypeError(
                f"{name} must be a list or a Dataset (anything indexable by position with a length: a list, a "
                f"tuple, a datasets.Dataset), got {type(dataset).__name__}" + (f": pass {hint}" if hint else "")
            )
