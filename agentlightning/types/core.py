"""Rollouts, attempts, triplets, hooks and the ``UNSET`` sentinel.

Every model here is a pydantic v2 model, so it serializes to JSON for the store and back.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, Field, model_validator

if TYPE_CHECKING:
    from .tracer import Span

__all__ = [
    "UNSET",
    "Attempt",
    "AttemptStatus",
    "AttemptedRollout",
    "Dataset",
    "Hook",
    "Rollout",
    "RolloutConfig",
    "RolloutMode",
    "RolloutStatus",
    "Triplet",
    "Unset",
    "new_attempt_id",
    "new_resources_id",
    "new_rollout_id",
]

T_co = TypeVar("T_co", covariant=True)

RolloutStatus = Literal["queuing", "preparing", "running", "failed", "succeeded", "cancelled", "requeuing"]
AttemptStatus = Literal["preparing", "running", "failed", "succeeded", "unresponsive", "timeout"]
RolloutMode = Literal["train", "val", "test"]

#: Rollout states after which nothing more happens to the rollout.
TERMINAL_ROLLOUT_STATUSES: frozenset[str] = frozenset({"failed", "succeeded", "cancelled"})
#: Attempt states that end an attempt.
TERMINAL_ATTEMPT_STATUSES: frozenset[str] = frozenset({"failed", "succeeded", "unresponsive", "timeout"})


class Unset:
    """The type of :data:`UNSET`: "this argument was not given", as opposed to ``None``.

    A single instance exists; it survives pickling (``__reduce__`` returns the module-level name),
    so it can cross process boundaries, and it is falsy.
    """

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNSET"


UNSET: Any = Unset()


def new_rollout_id() -> str:
    """A fresh rollout id: ``ro-`` and 12 hex digits."""
    return "ro-" + secrets.token_hex(6)


def new_attempt_id() -> str:
    """A fresh attempt id: ``at-`` and 8 hex digits."""
    return "at-" + secrets.token_hex(4)


def new_resources_id() -> str:
    """A fresh resources id: ``rs-`` and 12 hex digits."""
    return "rs-" + secrets.token_hex(6)


class Triplet(BaseModel):
    """One training example: what the model saw, what it said, and the reward it earned."""

    prompt: Any
    response: Any
    reward: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class RolloutConfig(BaseModel):
    """How the store treats a rollout's attempts: time limits and retries."""

    timeout_seconds: float | None = None
    """An attempt running longer than this is marked ``timeout``."""
    unresponsive_seconds: float | None = None
    """An attempt with no heartbeat (span or explicit update) for this long is marked ``unresponsive``."""
    max_attempts: int = Field(default=1, ge=1)
    """Attempts allowed in total, the first included."""
    retry_condition: list[AttemptStatus] = Field(default_factory=list)
    """Attempt outcomes that send the rollout back to the queue while attempts remain."""


class Rollout(BaseModel):
    """One task given to an agent, and what became of it."""

    rollout_id: str
    input: Any
    start_time: float = Field(default_factory=time.time)
    end_time: float | None = None
    mode: RolloutMode | None = None
    resources_id: str | None = None
    status: RolloutStatus = "queuing"
    config: RolloutConfig = Field(default_factory=RolloutConfig)
    metadata: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None


class Attempt(BaseModel):
    """One try at a rollout. ``sequence_id`` counts attempts from 1."""

    rollout_id: str
    attempt_id: str
    sequence_id: int
    start_time: float = Field(default_factory=time.time)
    end_time: float | None = None
    status: AttemptStatus = "preparing"
    worker_id: str | None = None
    last_heartbeat_time: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class AttemptedRollout(Rollout):
    """A rollout together with the attempt that is working on it."""

    attempt: Attempt

    @model_validator(mode="after")
    def _attempt_matches(self) -> AttemptedRollout:
        if self.attempt.rollout_id != self.rollout_id:
            raise ValueError(
                f"attempt {self.attempt.attempt_id!r} belongs to rollout {self.attempt.rollout_id!r}, "
                f"not to {self.rollout_id!r}"
            )
        return self


@runtime_checkable
class Dataset(Protocol[T_co]):
    """Anything indexable with a length: a list, a tuple, a ``datasets.Dataset``..."""

    def __getitem__(self, index: int, /) -> T_co: ...

    def __len__(self) -> int: ...


class Hook:
    """Callbacks around each rollout. Override the ones you need; all are async and keyword-only."""

    async def on_trace_start(self, *, agent: Any, runner: Any, tracer: Any, rollout: Rollout) -> None:
        """Called right before the trace context of a rollout opens."""

    async def on_trace_end(self, *, agent: Any, runner: Any, tracer: Any, rollout: Rollout) -> None:
        """Called right after the trace context of a rollout closes."""

    async def on_rollout_start(self, *, agent: Any, runner: Any, rollout: Rollout) -> None:
        """Called before the agent runs."""

    async def on_rollout_end(self, *, agent: Any, runner: Any, rollout: Rollout, spans: list[Span]) -> None:
        """Called after the agent ran, with the spans the rollout produced."""


class ParallelWorkerBase:
    """Base for objects that live in one worker each: ``init``, ``init_worker``, ``teardown_worker``, ``teardown``."""

    worker_id: int | str | None = None

    def init(self, *args: Any, **kwargs: Any) -> None:
        """Set up once, in the main process."""

    def init_worker(self, worker_id: int | str, *args: Any, **kwargs: Any) -> None:
        """Set up in the worker that will use this object."""
        self.worker_id = worker_id

    def teardown_worker(self, worker_id: int | str | None = None, *args: Any, **kwargs: Any) -> None:
        """Release what ``init_worker`` took."""

    def teardown(self, *args: Any, **kwargs: Any) -> None:
        """Release what ``init`` took."""
