"""Algorithms: subclass :class:`Algorithm`, or decorate a function with :func:`algo`.

::

    import agentlightning as agl

    @agl.algo
    async def one_epoch(*, store, train_dataset):
        ids = [(await store.enqueue_rollout(input=task, mode="train")).rollout_id for task in train_dataset]
        await store.wait_for_rollouts(rollout_ids=ids)

See :mod:`agentlightning.algorithm.base` for the class and :mod:`agentlightning.algorithm.decorator` for
the decorator and what it injects.
"""

from __future__ import annotations

from .base import Algorithm
from .decorator import FunctionalAlgorithm, algo

__all__ = [
    "Algorithm",
    "FunctionalAlgorithm",
    "algo",
]
