"""``Algorithm``: the training side of a run.

An algorithm decides what the agents work on and learns from what they did: it enqueues rollouts in the
store, waits for them, reads their spans (through the adapter, as triplets), and publishes new resources
(a better prompt, a fine-tuned model endpoint) for the next rollouts::

    import agentlightning as agl

    class OneEpoch(agl.Algorithm):
        async def run(self, train_dataset=None, val_dataset=None):
            store = self.get_store()
            ids = [(await store.enqueue_rollout(input=task, mode="train")).rollout_id for task in train_dataset]
            await store.wait_for_rollouts(rollout_ids=ids)

    trainer = agl.Trainer(algorithm=OneEpoch(), n_runners=4)

A function works too, see :func:`agentlightning.algorithm.algo`.

``run(train_dataset=None, val_dataset=None)`` may be sync or ``async def``; :meth:`Algorithm.is_async`
tells which. The trainer hands the algorithm what it needs before calling ``run``:

- ``set_store`` / ``get_store``: the store (held strongly);
- ``set_trainer`` / ``get_trainer``: the trainer (held weakly);
- ``set_llm_proxy`` / ``get_llm_proxy``: the LLM proxy serving the model being trained (held weakly);
- ``set_adapter`` / ``get_adapter``: the adapter from spans to training data (held weakly);
- ``set_initial_resources`` / ``get_initial_resources``: the resources of the first rollouts (held strongly).

A getter raises ``ValueError`` when nothing was set, or when a weakly held object was garbage collected.
Setting ``None`` forgets the component. Weak references are dropped when the algorithm is pickled.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from agentlightning.types import Dataset, NamedResources

if TYPE_CHECKING:
    from agentlightning.store.base import LightningStore

__all__ = [
    "Algorithm",
]

_WEAK_FIELDS = ("_trainer_ref", "_llm_proxy_ref", "_adapter_ref")


class Algorithm:
    """Base class of algorithms. Override :meth:`run`."""

    _store: LightningStore | None = None
    _initial_resources: NamedResources | None = None
    _trainer_ref: weakref.ReferenceType[Any] | None = None
    _llm_proxy_ref: weakref.ReferenceType[Any] | None = None
    _adapter_ref: weakref.ReferenceType[Any] | None = None

    # ----------------------------------------------------------------------------------------------
    # Components
    # ----------------------------------------------------------------------------------------------

    def set_store(self, store: LightningStore | None) -> None:
        """The store the algorithm talks to the runners through (held strongly)."""
        self._store = store

    def get_store(self) -> LightningStore:
        """The store; ``ValueError`` when none is set."""
        if self._store is None:
            raise ValueError("Store has not been set for this algorithm. Call set_store() or run it under a Trainer.")
        return self._store

    def set_trainer(self, trainer: Any) -> None:
        """The trainer running this algorithm (held weakly)."""
        self._trainer_ref = _ref(trainer)

    def get_trainer(self) -> Any:
        """The trainer; ``ValueError`` when none is set or it was garbage collected."""
        return _deref(self._trainer_ref, "Trainer")

    def set_llm_proxy(self, llm_proxy: Any) -> None:
        """The LLM proxy serving the model being trained, if any (held weakly)."""
        self._llm_proxy_ref = _ref(llm_proxy)

    def get_llm_proxy(self) -> Any:
        """The LLM proxy; ``ValueError`` when none is set or it was garbage collected."""
        return _deref(self._llm_proxy_ref, "LLM proxy")

    def set_adapter(self, adapter: Any) -> None:
        """The adapter turning a rollout's spans into training data (held weakly)."""
        self._adapter_ref = _ref(adapter)

    def get_adapter(self) -> Any:
        """The adapter; ``ValueError`` when none is set or it was garbage collected."""
        return _deref(self._adapter_ref, "Adapter")

    def set_initial_resources(self, resources: NamedResources | None) -> None:
        """The resources the first rollouts run with (held strongly)."""
        self._initial_resources = resources

    def get_initial_resources(self) -> NamedResources:
        """The initial resources; ``ValueError`` when none are set."""
        if self._initial_resources is None:
            raise ValueError("Initial resources have not been set for this algorithm. Call set_initial_resources().")
        return self._initial_resources

    def _has(self, component: str) -> bool:
        """Whether ``component`` (store, trainer, llm_proxy, adapter, initial_resources) was set, dead or alive."""
        if component in ("store", "initial_resources"):
            return getattr(self, f"_{component}") is not None
        return getattr(self, f"_{component}_ref") is not None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in _WEAK_FIELDS:
            state.pop(name, None)
        return state

    # ----------------------------------------------------------------------------------------------
    # Running
    # ----------------------------------------------------------------------------------------------

    def is_async(self) -> bool:
        """True when :meth:`run` is a coroutine function (``async def run``)."""
        return inspect.iscoroutinefunction(self.run)

    def run(
        self, train_dataset: Dataset[Any] | None = None, val_dataset: Dataset[Any] | None = None
    ) -> Awaitable[None] | None:
        """Run the algorithm to the end. Subclasses implement it, sync or ``async def``.

        Args:
            train_dataset: The tasks to train on, if the algorithm uses any.
            val_dataset: The tasks to validate on, if the algorithm uses any.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement run().")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Same as :meth:`run`."""
        return self.run(*args, **kwargs)


def _ref(obj: Any) -> weakref.ReferenceType[Any] | None:
    return None if obj is None else weakref.ref(obj)


def _deref(ref: weakref.ReferenceType[Any] | None, what: str) -> Any:
    if ref is None:
        raise ValueError(f"{what} has not been set for this algorithm.")
    obj = ref()
    if obj is None:
        raise ValueError(f"{what} reference is no longer valid (the object has been garbage collected).")
    return obj
