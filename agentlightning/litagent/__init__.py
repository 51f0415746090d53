"""Agents: subclass :class:`LitAgent`, or decorate a function with :func:`rollout`.

::

    import agentlightning as agl

    @agl.rollout                      # (task, llm[, rollout]) or (task, prompt_template[, rollout])
    def agent(task, llm):
        ...
        return reward

    class MyAgent(agl.LitAgent[dict]):
        def rollout(self, task, resources, rollout):
            ...

See :mod:`agentlightning.litagent.litagent` for the class and :mod:`agentlightning.litagent.decorator`
for the decorators.
"""

from __future__ import annotations

from .decorator import FunctionalLitAgent, llm_rollout, prompt_rollout, rollout
from .litagent import LitAgent

__all__ = [
    "FunctionalLitAgent",
    "LitAgent",
    "llm_rollout",
    "prompt_rollout",
    "rollout",
]
