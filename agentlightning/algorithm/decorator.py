"""Algorithms from plain functions: ``@algo``.

::

    import agentlightning as agl

    @agl.algo
    async def one_epoch(*, store, train_dataset, initial_resources):
        await store.add_resources(initial_resources)
        ids = [(await store.enqueue_rollout(input=task, mode="train")).rollout_id for task in train_dataset]
        await store.wait_for_rollouts(rollout_ids=ids)

    trainer = agl.Trainer(algorithm=one_epoch, n_runners=4)

The function declares, by name, what it needs; ``run(train_dataset=None, val_dataset=None)`` calls it with
exactly those (decided once, when decorated):

=====================  =========================================================================
``store``              ``get_store()``; required: ``ValueError`` when no store was set.
``adapter``            ``get_adapter()``; required: ``ValueError`` when no adapter was set.
``llm_proxy``          ``get_llm_proxy()``, or ``None`` when no LLM proxy was set.
``initial_resources``  ``get_initial_resources()``, or ``None`` when none were set.
``train_dataset``      the ``train_dataset`` given to ``run``.
``val_dataset``        the ``val_dataset`` given to ``run``.
=====================  =========================================================================

A component that was never set is left out of the call when its parameter has a default, so the default
applies. A weakly held component that was garbage collected always raises ``ValueError``. A dataset given
to ``run`` for a function without that parameter raises ``TypeError``. The names are passed by keyword, so
they must not be positional-only; ``**kwargs`` receives nothing.

The decorated object is a :class:`FunctionalAlgorithm`, and still the function: calling it calls the
function (an async one returns a coroutine, and so does ``run``), and it carries the function's
``__name__``, ``__doc__``, ``__wrapped__``, so ``inspect.signature`` shows its parameters.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from agentlightning.types import Dataset

from .base import Algorithm

__all__ = [
    "FunctionalAlgorithm",
    "algo",
]

_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
# Injected components, and whether a missing one is an error (True) or None (False).
_COMPONENTS: dict[str, bool] = {"store": True, "adapter": True, "llm_proxy": False, "initial_resources": False}


class FunctionalAlgorithm(Algorithm):
    """An :class:`Algorithm` made from a function; see the module documentation."""

    _func: Callable[..., Any]

    def __init__(self, func: Callable[..., Any]) -> None:
        if isinstance(func, FunctionalAlgorithm):
            func = func._func
        # Metadata first: update_wrapper merges the function's __dict__ into ours.
        functools.update_wrapper(self, func)
        super().__init__()
        self._func = func
        self._name = str(getattr(func, "__name__", None) or repr(func))
        self._is_async = inspect.iscoroutinefunction(func) or (
            callable(func) and not inspect.isfunction(func) and inspect.iscoroutinefunction(type(func).__call__)
        )
        params = {name: p for name, p in inspect.signature(func).parameters.items() if p.kind in _KEYWORD_KINDS}
        # (name, has_default) of each component the function asks for, in a fixed order.
        self._components = tuple(
            (name, params[name].default is not inspect.Parameter.empty) for name in _COMPONENTS if name in params
        )
        self._takes_train_dataset = "train_dataset" in params
        self._takes_val_dataset = "val_dataset" in params

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the original function, unchanged."""
        return self._func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name} ({'async' if self._is_async else 'sync'})>"

    def __reduce_ex__(self, protocol: Any) -> Any:
        # A decorated module-level function is pickled by reference; anything else by state.
        if _resolves_to(self):
            return str(getattr(self, "__qualname__", self._name))
        return super().__reduce_ex__(protocol)

    def is_async(self) -> bool:
        """Whether the function is a coroutine function."""
        return self._is_async

    def run(
        self, train_dataset: Dataset[Any] | None = None, val_dataset: Dataset[Any] | None = None
    ) -> Awaitable[None] | None:
        """Call the function with the components and datasets it declares.

        Returns what the function returns: ``None`` for a sync function, a coroutine for an async one.
        """
        kwargs: dict[str, Any] = {}
        if self._takes_train_dataset:
            kwargs["train_dataset"] = train_dataset
        elif train_dataset is not None:
            raise TypeError(f"train_dataset is provided but not supported by the algorithm function: {self._name}")
        if self._takes_val_dataset:
            kwargs["val_dataset"] = val_dataset
        elif val_dataset is not None:
            raise TypeError(f"val_dataset is provided but not supported by the algorithm function: {self._name}")
        for name, has_default in self._components:
            if not self._has(name):
                if has_default:
                    continue
                if not _COMPONENTS[name]:
                    kwargs[name] = None
                    continue
            kwargs[name] = getattr(self, f"get_{name}")()
        return self._func(**kwargs)  # type: ignore[no-any-return]


def _resolves_to(obj: Any) -> bool:
    """Whether ``module.qualname`` names ``obj`` itself (so pickle can store it by reference)."""
    target: Any = sys.modules.get(getattr(obj, "__module__", "") or "")
    for part in str(getattr(obj, "__qualname__", "")).split("."):
        if part == "<locals>" or target is None:
            return False
        target = getattr(target, part, None)
    return target is obj


def algo(func: Callable[..., Any]) -> FunctionalAlgorithm:
    """Make an :class:`Algorithm` of a function, sync or async; see the module documentation."""
    return FunctionalAlgorithm(func)
