"""``LitAgentRunner``: takes rollouts from the store and runs an agent on each (``agentlightning.runner``).

For every rollout it takes, a runner:

1. loads the rollout's resources (its ``resources_id``, else the latest) from the store;
2. opens a trace context for the attempt (its root span is ``agentlightning.rollout``);
3. calls ``training_rollout[_async]`` when the rollout's mode is ``train``, else
   ``validation_rollout[_async]``. A sync agent runs in a worker thread, never on the event loop; a
   ``config.timeout_seconds`` is enforced (the attempt ends ``timeout``);
4. turns the return value into spans: ``None`` keeps the traced spans, a number becomes a reward span,
   a list of spans is stored as given (``Span`` as is, OpenTelemetry spans and ``SpanCoreFields`` under
   this attempt), ``[]`` only warns;
5. marks the attempt ``succeeded``, or ``failed`` when the agent raised (the exception is recorded on the
   root span: status ERROR and an ``exception`` event) or returned something unusable; when the runner
   itself is cancelled mid-rollout (Ctrl-C under a Trainer), the rollout becomes ``cancelled`` (and its
   attempt ``failed``), never ``failed`` or retried;
6. calls the hooks: ``on_trace_start`` / ``on_rollout_start`` / ``on_rollout_end`` / ``on_trace_end``.

While the agent runs, a :class:`~agentlightning.runner._heartbeat.Heartbeat` thread beats for the attempt
(``update_attempt(last_heartbeat_time=...)``), so the store can tell a slow agent from a dead process.
A runner given a ``run_id`` (``init_worker(..., run_id=...)``; the Trainer does) takes only that run's
rollouts from the queue.

Debugging one agent by hand (agent-lightning 0.3's API)::

    runner = agl.LitAgentRunner[str](agl.OtelTracer())
    with runner.run_context(agent=agent, store=store):          # init, init_worker ... teardown
        rollout = await runner.step("What is 2 + 2?", resources={"main_llm": llm})
    print(rollout.status, agl.find_final_reward(await store.query_spans(rollout.rollout_id)))

``step(task)`` runs one task as a fresh rollout (not through the queue) and returns the finished
:class:`~agentlightning.Rollout`; ``step(attempted_rollout)`` runs a rollout taken from the store.

When it gets its agent (``init``), a runner instruments every installed framework plugin that is not
instrumented yet (``instrument_all()``, keeping options given earlier), so that an unchanged script's
model calls become spans. Opt out with ``LitAgentRunner(..., auto_instrument=False)`` or
``AGENTLIGHTNING_AUTO_INSTRUMENT=0``. ``capture_content=True`` opens each rollout's trace context with
content capture on (a :class:`~agentlightning.Trainer` does that by default).

Several runners share one store and one tracer safely: each rollout's spans go to its own attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import numbers
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from opentelemetry import trace as otel_trace

from agentlightning import semconv
from agentlightning._config import option_value
from agentlightning._utils import DeadlineExceeded, run_in_daemon_thread, wait_for
from agentlightning.emitter import check_number
from agentlightning.tracer import attempt_known
from agentlightning.types import (
    TERMINAL_ATTEMPT_STATUSES,
    TERMINAL_ROLLOUT_STATUSES,
    AttemptedRollout,
    AttemptStatus,
    Hook,
    NamedResources,
    Rollout,
    RolloutMode,
    Span,
    SpanCoreFields,
)

from ._heartbeat import Heartbeat

if TYPE_CHECKING:
    from agentlightning.litagent.litagent import LitAgent, RolloutRawResult
    from agentlightning.store.base import LightningStore
    from agentlightning.tracer.base import Tracer

logger = logging.getLogger(__name__)

__all__ = ["AUTO_INSTRUMENT_ENV", "LitAgentRunner"]

AUTO_INSTRUMENT_ENV = semconv.AUTO_INSTRUMENT_ENV
"""``0``/``false``/``no``/``off``: runners and trainers do not call ``instrument_all()`` when they start."""

T_task = TypeVar("T_task")


def auto_instrument(enabled: bool | None) -> list[str]:
    """``instrument_all()`` for the installed plugins not instrumented yet, unless turned off (the keyword,
    else ``AGENTLIGHTNING_AUTO_INSTRUMENT``). Returns the names instrumented now. Never raises."""
    if enabled is None:
        enabled = bool(option_value("auto_instrument"))
    if not enabled:
        return []
    try:
        from agentlightning.instrumentation import available_instrumentors, get_instrumentor, instrument_all

        done = []
        for name in available_instrumentors():
            try:
                if get_instrumentor(name).is_instrumented:
                    done.append(name)  # keep the options the user instrumented it with
            except Exception:
                continue  # instrument_all() says what is wrong with it
        return instrument_all(disabled=done)
    except Exception:
        logger.exception("agentlightning could not instrument the installed plugins; model calls may not be traced")
        return []


class LitAgentRunner(Generic[T_task]):
    """Runs a :class:`LitAgent` over rollouts taken from a store.

    ``max_rollouts`` stops the runner after that many rollouts; ``poll_interval`` is how long an idle
    runner waits before asking an empty queue again. ``auto_instrument`` and ``capture_content``: see the
    module docstring. ``LitAgentRunner[str]`` names the task type (for type checkers; no effect at run time).
    """

    def __init__(
        self,
        tracer: Tracer,
        max_rollouts: int | None = None,
        *,
        poll_interval: float = 0.02,
        auto_instrument: bool | None = None,
        capture_content: bool | None = None,
    ) -> None:
        self.tracer = tracer
        self.max_rollouts = max_rollouts
        self.poll_interval = poll_interval
        self.auto_instrument = auto_instrument
        self.capture_content = capture_content
        self.worker_id: str | None = None
        self.hooks: list[Hook] = []
        self._agent: LitAgent[Any] | None = None
        self._store: LightningStore | None = None
        self._executor: Executor | None = None
        self._tasks: Mapping[str, Any] | None = None
        self.run_id: str | None = None
        self._heartbeat: Heartbeat | None = None
        self._own_heartbeat: Heartbeat | None = None

    # ---- lifecycle ------------------------------------------------------------------------------

    def init(
        self,
        agent: LitAgent[Any],
        *,
        hooks: Sequence[Hook] | None = None,
        executor: Executor | None = None,
        tasks: Mapping[str, Any] | None = None,
    ) -> None:
        """Give the runner its agent and hooks.

        ``executor``: a thread pool for sync agents (default: a daemon thread per call, so that a timed-out
        call never holds up the next one). ``tasks``: the original task objects by rollout id, handed to the
        agent instead of the store's copy of the input (a SQLite store gives back JSON data, not your
        dataclass).
        """
        self._agent = agent
        self.hooks = list(hooks or [])
        self._executor = executor
        self._tasks = tasks
        agent.set_runner(self)
        auto_instrument(self.auto_instrument)

    def init_worker(
        self,
        worker_id: int | str,
        store: LightningStore,
        *,
        run_id: str | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        """Bind the runner to a store; its attempts carry ``worker_id``.

        ``run_id``: take only rollouts of that run (``None``: any). ``heartbeat``: a shared heartbeat thread
        (default: the runner makes its own, on the first rollout it runs).
        """
        self.worker_id = str(worker_id)
        self._store = store
        self.run_id = run_id
        self._heartbeat = heartbeat
        self.tracer.init_worker(worker_id, store)

    def teardown_worker(self, worker_id: int | str | None = None) -> None:
        if self._own_heartbeat is not None:
            self._own_heartbeat.stop()
            self._own_heartbeat = None
        self.tracer.teardown_worker(worker_id)

    def teardown(self) -> None:
        self._agent = None

    @contextmanager
    def run_context(
        self,
        *,
        agent: LitAgent[Any],
        store: LightningStore,
        hooks: Sequence[Hook] | None = None,
        worker_id: int | str = 0,
    ) -> Iterator[LitAgentRunner[T_task]]:
        """``init(agent, hooks=)`` + ``init_worker(worker_id, store)`` on entry; ``teardown_worker`` +
        ``teardown`` on exit (also after an exception), so the spans of every step are stored by then."""
        self.tracer.init()
        try:
            self.init(agent, hooks=hooks)
            self.init_worker(worker_id, store)
            try:
                yield self
            finally:
                self.teardown_worker(worker_id)
                self.teardown()
        finally:
            self.tracer.teardown()

    @property
    def agent(self) -> LitAgent[Any]:
        if self._agent is None:
            raise ValueError("The runner has no agent; call runner.init(agent) first")
        return self._agent

    @property
    def store(self) -> LightningStore:
        if self._store is None:
            raise ValueError("The runner has no store; call runner.init_worker(worker_id, store) first")
        return self._store

    # ---- the loop -------------------------------------------------------------------------------

    async def iter(self, *, stop: asyncio.Event | None = None) -> int:
        """Take and run rollouts until ``max_rollouts`` is reached, or ``stop`` is set and the queue is empty.

        Returns the number of rollouts run.
        """
        done = 0
        while self.max_rollouts is None or done < self.max_rollouts:
            rollout = await self.store.dequeue_rollout(worker_id=self.worker_id, run_id=self.run_id)
            if rollout is None:
                if stop is not None and stop.is_set():
                    break
                if stop is None and self.max_rollouts is None:
                    break  # nothing queued and nobody will tell us to stop: we are done
                await asyncio.sleep(self.poll_interval)
                continue
            await self.step(rollout)
            done += 1
        return done

    @overload
    async def step(self, rollout: AttemptedRollout) -> list[Span]: ...  # type: ignore[overload-overlap]

    @overload
    async def step(
        self, rollout: T_task, *, resources: NamedResources | None = None, mode: RolloutMode | None = None
    ) -> Rollout: ...

    async def step(
        self, rollout: Any, *, resources: NamedResources | None = None, mode: RolloutMode | None = None
    ) -> list[Span] | Rollout:
        """Run the agent on one attempted rollout, or on a task.

        Given an :class:`AttemptedRollout` (taken from the store): returns the attempt's spans as stored
        when hooks are registered (``on_rollout_end`` gets them), else ``[]`` without reading them back
        (read them with ``store.query_spans``).

        Given anything else, a task: starts a fresh rollout for it in the store (``mode``, default
        ``train``; ``resources`` stored as a new version, else the latest are used), runs it and returns
        the finished :class:`Rollout`.
        """
        if not isinstance(rollout, AttemptedRollout):
            return await self._step_task(rollout, resources, mode)
        if resources is not None or mode is not None:
            raise TypeError(
                "step(attempted_rollout) runs the rollout with its own resources and mode; "
                "resources= and mode= are for step(task)"
            )
        store, agent, tracer = self.store, self.agent, self.tracer
        rollout_id, attempt_id = rollout.rollout_id, rollout.attempt.attempt_id
        await store.update_attempt(rollout_id, attempt_id, status="running", worker_id=self.worker_id)
        heartbeat = self._beating()
        heartbeat.add(rollout_id, attempt_id, rollout.config.unresponsive_seconds)
        status: AttemptStatus = "failed"  # until the agent says otherwise
        cancelled = False
        try:
            resources = await self._resources(rollout)
            await self._call_hooks("on_trace_start", agent=agent, runner=self, tracer=tracer, rollout=rollout)
            # update_attempt just found the attempt: the trace context need not check that it exists.
            with attempt_known(store, rollout_id, attempt_id):
                async with tracer.trace_context(
                    f"rollout {rollout_id}",
                    store=store,
                    rollout_id=rollout_id,
                    attempt_id=attempt_id,
                    capture_content=self.capture_content,
                ):
                    await self._call_hooks("on_rollout_start", agent=agent, runner=self, rollout=rollout)
                    status = await self._run_agent(rollout, resources)
        except (asyncio.CancelledError, KeyboardInterrupt):
            # Ctrl-C: Python 3.11+'s asyncio.run cancels the main task; on 3.10 the KeyboardInterrupt itself
            # may surface in this task. Either way the agent did nothing wrong: the rollout is cancelled.
            cancelled = True
            raise
        finally:
            heartbeat.remove(rollout_id, attempt_id)
            await self._call_hooks("on_trace_end", agent=agent, runner=self, tracer=tracer, rollout=rollout)
            if cancelled:
                await self._cancel_rollout(rollout_id)
            else:
                await self._finish_attempt(rollout_id, attempt_id, status)
        spans = await store.query_spans(rollout_id, attempt_id) if self.hooks else []
        await self._call_hooks("on_rollout_end", agent=agent, runner=self, rollout=rollout, spans=spans)
        return spans

    async def _step_task(self, task: Any, resources: NamedResources | None, mode: RolloutMode | None) -> Rollout:
        store = self.store
        resources_id = (await store.add_resources(resources)).resources_id if resources is not None else None
        attempted = await store.start_rollout(input=task, mode=mode or "train", resources_id=resources_id)
        tasks = dict(self._tasks or {})
        tasks[attempted.rollout_id] = task  # the agent gets this very object, not the store's copy
        saved, self._tasks = self._tasks, tasks
        try:
            await self.step(attempted)
        finally:
            self._tasks = saved
        final = await store.get_rollout_by_id(attempted.rollout_id)
        if final is None:  # pragma: no cover - a store that loses a rollout is broken
            raise RuntimeError(f"The store lost rollout {attempted.rollout_id!r}")
        return final

    async def _run_agent(self, rollout: AttemptedRollout, resources: NamedResources) -> AttemptStatus:
        """Call the agent under the root span; returns the attempt's status."""
        agent = self.agent
        timeout = rollout.config.timeout_seconds
        # The trace context's root span (agentlightning.rollout) records the outcome.
        with contextlib.nullcontext(otel_trace.get_current_span()) as root:
            try:
                train = rollout.mode == "train"
                task = self._tasks.get(rollout.rollout_id, rollout.input) if self._tasks else rollout.input
                if agent.is_async():
                    coro = (agent.training_rollout_async if train else agent.validation_rollout_async)(
                        task, resources, rollout
                    )
                    result = await wait_for(coro, timeout)
                else:
                    method = agent.training_rollout if train else agent.validation_rollout
                    call: Awaitable[RolloutRawResult]
                    if self._executor is None:
                        call = run_in_daemon_thread(method, task, resources, rollout)
                    else:
                        bound = functools.partial(contextvars.copy_context().run, method, task, resources, rollout)
                        call = asyncio.get_running_loop().run_in_executor(self._executor, bound)
                    result = await wait_for(call, timeout)
                await self._store_result(rollout, result)
            except DeadlineExceeded:
                root.set_attribute(semconv.ERROR_TYPE, "timeout")
                logger.warning("Rollout %s exceeded its timeout of %s s", rollout.rollout_id, timeout)
                return "timeout"
            except Exception as exc:
                # The root span records it (status ERROR, exception event); the attempt fails. The agent's
                # exception does not escape the runner: the other rollouts go on.
                root.record_exception(exc)
                from opentelemetry.trace import Status, StatusCode

                root.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                root.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
                logger.warning("Rollout %s failed: %s: %s", rollout.rollout_id, type(exc).__name__, exc)
                return "failed"
        return "succeeded"

    async def _store_result(self, rollout: AttemptedRollout, result: Any) -> None:
        if result is None:
            return
        if isinstance(result, numbers.Real):
            from agentlightning.emitter.reward import emit_reward

            emit_reward(check_number(result, "The reward returned by the agent"))
            return
        if not isinstance(result, list):
            raise TypeError(
                f"The agent returned {type(result).__name__}; a rollout must return None, a number (the reward) "
                "or a list of spans"
            )
        if not result:
            logger.warning("Rollout %s returned an empty list of spans; nothing was added", rollout.rollout_id)
            return
        store, rid, aid = self.store, rollout.rollout_id, rollout.attempt.attempt_id
        from agentlightning.tracer import recorded_in_current_context

        spans: list[Span] = []
        for item in result:
            if isinstance(item, Span):
                spans.append(item)
            elif isinstance(item, SpanCoreFields):
                self.tracer.create_span(
                    item.name,
                    attributes=item.attributes,
                    timestamp=item.start_time,
                    status=item.status,
                    end_timestamp=item.end_time,
                )
            elif hasattr(item, "context") and hasattr(item, "end_time") and hasattr(item, "attributes"):
                # An OpenTelemetry ReadableSpan. One made inside this trace context was recorded already.
                if not recorded_in_current_context(item):
                    await store.add_otel_span(rid, aid, item)
            else:
                raise TypeError(
                    f"The agent returned a list holding {type(item).__name__}; the list may hold only "
                    "agentlightning Span, OpenTelemetry ReadableSpan or SpanCoreFields"
                )
        if spans:
            await store.add_many_spans(spans)

    def _beating(self) -> Heartbeat:
        if self._heartbeat is not None:
            return self._heartbeat
        if self._own_heartbeat is None:
            self._own_heartbeat = Heartbeat(self.store)
        return self._own_heartbeat

    async def _cancel_rollout(self, rollout_id: str) -> None:
        """The runner was cancelled mid-rollout: the rollout is ``cancelled`` (the store ends the attempt)."""
        current = await self.store.get_rollout_by_id(rollout_id)
        if current is not None and current.status not in TERMINAL_ROLLOUT_STATUSES:
            await self.store.update_rollout(rollout_id, status="cancelled")

    async def _finish_attempt(self, rollout_id: str, attempt_id: str, status: AttemptStatus) -> None:
        """Set the attempt's outcome unless the store already ended it (a timeout it detected, say)."""
        ender = getattr(self.store, "_attempt_ender", None)  # one transaction, where the store offers it
        end = ender() if callable(ender) else None
        if end is not None:
            await end(rollout_id, attempt_id, status)
            return
        attempts = await self.store.query_attempts(rollout_id)
        current = next((a for a in attempts if a.attempt_id == attempt_id), None)
        if current is not None and current.status in TERMINAL_ATTEMPT_STATUSES:
            return
        await self.store.update_attempt(rollout_id, attempt_id, status=status)

    async def _resources(self, rollout: AttemptedRollout) -> NamedResources:
        store = self.store
        update = None
        if rollout.resources_id is not None:
            update = await store.get_resources_by_id(rollout.resources_id)
            if update is None:
                raise ValueError(f"Resources {rollout.resources_id!r} of rollout {rollout.rollout_id!r} not found")
        else:
            update = await store.get_latest_resources()
        return dict(update.resources) if update is not None else {}

    async def _call_hooks(self, name: str, **kwargs: Any) -> None:
        for hook in self.hooks:
            try:
                await getattr(hook, name)(**kwargs)
            except Exception:
                logger.exception("Hook %s.%s failed; the rollout goes on", type(hook).__name__, name)
