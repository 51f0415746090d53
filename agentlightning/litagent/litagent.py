"""``LitAgent``: the class form of an agent.

Subclass :class:`LitAgent` when a decorated function (:mod:`agentlightning.litagent.decorator`) is not
enough, for instance when the agent keeps state between rollouts or trains differently from how it
validates::

    import agentlightning as agl

    class MathAgent(agl.LitAgent[dict]):
        def rollout(self, task, resources, rollout):
            llm = resources["main_llm"]
            answer = solve(task["question"], base_url=llm.endpoint, model=llm.model)
            return 1.0 if answer == task["answer"] else 0.0

    class AsyncMathAgent(agl.LitAgent[dict]):
        async def rollout_async(self, task, resources, rollout):
            ...

What the runner calls:

- ``training_rollout(task, resources, rollout)`` for rollouts in ``train`` mode, and
  ``validation_rollout(...)`` for the others; both delegate to ``rollout``. The ``*_async`` twins
  delegate to ``rollout_async``. Override the specific ones to tell training from validation.
- :meth:`LitAgent.is_async` tells the runner which family to call: it is true as soon as a subclass
  overrides any ``*_async`` method.

What a rollout returns (:data:`RolloutRawResult`): ``None`` when the spans come from the tracer, a number
(the final reward, turned into a reward span), or a list of spans (:class:`~agentlightning.types.Span`,
OpenTelemetry ``ReadableSpan``, or :class:`~agentlightning.types.SpanCoreFields`) stored as given.

The runner and the trainer register themselves with :meth:`LitAgent.set_runner` and
:meth:`LitAgent.set_trainer`. Both are held through weak references, so an agent never keeps them alive;
:attr:`LitAgent.runner`, :attr:`LitAgent.trainer` and :attr:`LitAgent.tracer` raise ``ValueError`` when
there is nothing (alive) to return. Weak references are dropped when an agent is pickled.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Union

from agentlightning.types import NamedResources, ParallelWorkerBase, Rollout, Span, SpanCoreFields

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = [
    "LitAgent",
    "RolloutRawResult",
]

T = TypeVar("T")

# ``Union`` and a string forward reference keep ``ReadableSpan`` (the OpenTelemetry SDK) out of the import
# path: this alias is usable at runtime without importing ``opentelemetry.sdk``.
RolloutRawResult = Union[float, list[Union[Span, "ReadableSpan", SpanCoreFields]], None]  # noqa: UP007
"""What a rollout method may return: ``None``, a reward, or a list of spans."""

_ASYNC_METHODS = ("rollout_async", "training_rollout_async", "validation_rollout_async")


def _tracer_of(owner: Any) -> Any:
    """The tracer an owner (runner or trainer) exposes: its ``tracer`` attribute, else ``get_tracer()``."""
    tracer = getattr(owner, "tracer", None)
    if tracer is None:
        get_tracer = getattr(owner, "get_tracer", None)
        if callable(get_tracer):
            tracer = get_tracer()
    return tracer


class LitAgent(ParallelWorkerBase, Generic[T]):
    """Base class of agents; ``T`` is the type of the tasks the agent receives.

    Override :meth:`rollout` (sync) or :meth:`rollout_async` (async). ``trained_agents`` is kept for
    agent-lightning compatibility: a name pattern the adapter may use to pick the agent spans to train.
    """

    trained_agents: str | None = None
    _runner_ref: weakref.ReferenceType[Any] | None = None
    _trainer_ref: weakref.ReferenceType[Any] | None = None

    def __init__(self, *, trained_agents: str | None = None) -> None:
        self.trained_agents = trained_agents

    # ----------------------------------------------------------------------------------------------
    # Runner, trainer, tracer
    # ----------------------------------------------------------------------------------------------

    def set_runner(self, runner: Any) -> None:
        """Remember the runner executing this agent (weakly). ``None`` forgets it."""
        self._runner_ref = None if runner is None else weakref.ref(runner)

    def get_runner(self) -> Any:
        """The runner executing this agent; ``ValueError`` when none is set or it was garbage collected."""
        return _deref(self._runner_ref, "Runner")

    @property
    def runner(self) -> Any:
        """Same as :meth:`get_runner`."""
        return self.get_runner()

    def set_trainer(self, trainer: Any) -> None:
        """Remember the trainer driving this agent (weakly). ``None`` forgets it."""
        self._trainer_ref = None if trainer is None else weakref.ref(trainer)

    def get_trainer(self) -> Any:
        """The trainer driving this agent; ``ValueError`` when none is set or it was garbage collected."""
        return _deref(self._trainer_ref, "Trainer")

    @property
    def trainer(self) -> Any:
        """Same as :meth:`get_trainer`."""
        return self.get_trainer()

    def get_tracer(self) -> Any:
        """The runner's tracer, else the trainer's; ``ValueError`` when neither is available."""
        for ref in (self._runner_ref, self._trainer_ref):
            owner = None if ref is None else ref()
            if owner is not None:
                tracer = _tracer_of(owner)
                if tracer is not None:
                    return tracer
        raise ValueError(
            "No tracer available for this agent: neither a runner (set_runner) nor a trainer (set_trainer) "
            "with a tracer is set, or they were garbage collected."
        )

    @property
    def tracer(self) -> Any:
        """Same as :meth:`get_tracer`."""
        return self.get_tracer()

    def __getstate__(self) -> dict[str, Any]:
        # Weak references cannot be pickled, and a runner in another process is not ours anyway.
        state = dict(self.__dict__)
        state.pop("_runner_ref", None)
        state.pop("_trainer_ref", None)
        return state

    # ----------------------------------------------------------------------------------------------
    # Rollouts
    # ----------------------------------------------------------------------------------------------

    def is_async(self) -> bool:
        """True when the subclass overrides any of ``rollout_async``, ``training_rollout_async``,
        ``validation_rollout_async``: the runner then awaits the async family."""
        cls = type(self)
        return any(getattr(cls, name) is not getattr(LitAgent, name) for name in _ASYNC_METHODS)

    def rollout(self, task: T, resources: NamedResources, rollout: Rollout) -> RolloutRawResult:
        """Run the agent on one task. Override this (or :meth:`rollout_async`).

        Args:
            task: The task, as enqueued (``rollout.input``).
            resources: The named resources of this rollout (LLMs, prompt templates).
            rollout: The rollout being run; an ``AttemptedRollout`` when it comes from the runner.

        Returns:
            ``None``, a reward, or a list of spans (see :data:`RolloutRawResult`).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement rollout() (or rollout_async()).")

    async def rollout_async(self, task: T, resources: NamedResources, rollout: Rollout) -> RolloutRawResult:
        """The async form of :meth:`rollout`. Override it to make the agent async."""
        raise NotImplementedError(f"{type(self).__name__} must implement rollout_async() (or rollout()).")

    def training_rollout(self, task: T, resources: NamedResources, rollout: Rollout) -> RolloutRawResult:
        """A rollout in ``train`` mode. Delegates to :meth:`rollout`."""
        return self.rollout(task, resources, rollout)

    def validation_rollout(self, task: T, resources: NamedResources, rollout: Rollout) -> RolloutRawResult:
        """A rollout in ``val``/``test`` mode. Delegates to :meth:`rollout`."""
        return self.rollout(task, resources, rollout)

    async def training_rollout_async(self, task: T, resources: NamedResources, rollout: Rollout) -> RolloutRawResult:
        """A rollout in ``train`` mode, async. Delegates to :meth:`rollout_async`."""
        return await self.rollout_async(task, resources, rollout)

    async def validation_rollout_async(self, task: T, resources: NamedResources, rollout: Rollout) -> RolloutRawResult:
        """A rollout in ``val``/``test`` mode, async. Delegates to :meth:`rollout_async`."""
        return await self.rollout_async(task, resources, rollout)


def _deref(ref: weakref.ReferenceType[Any] | None, what: str) -> Any:
    if ref is None:
        raise ValueError(f"{what} has not been set for this agent.")
    obj = ref()
    if obj is None:
        raise ValueError(f"{what} reference is no longer valid (the object has been garbage collected).")
    return obj
