"""Agents from plain functions: ``@rollout``, ``@llm_rollout``, ``@prompt_rollout``.

Write the agent as a function and decorate it::

    import agentlightning as agl

    @agl.rollout                                   # (task, llm[, rollout]) or (task, prompt_template[, rollout])
    def agent(task, llm):
        client = openai.OpenAI(base_url=llm.endpoint, api_key=llm.api_key or "x")
        ...
        return reward                              # None, a number, or a list of spans

    @agl.llm_rollout(strip_proxy=False)            # keep a ProxyLLM as it is
    async def async_agent(task, llm, rollout): ...

    @agl.prompt_rollout
    def prompt_agent(task, prompt_template): ...

The result is a :class:`FunctionalLitAgent`: a :class:`~agentlightning.litagent.LitAgent` the runner can
drive, which is also still the function. ``agent(task, llm)`` calls the function directly (an async
function still returns a coroutine), and ``__name__``, ``__qualname__``, ``__doc__``, ``__module__`` and
``__wrapped__`` are the function's, so ``inspect.signature(agent)`` shows its parameters.

Parameters are matched by name, once, when the function is decorated:

==================  ===============================================================================
``task``            the first parameter, required: the task (``rollout.input``), passed positionally.
``llm``             the first ``LLM`` in the resources (a ``ProxyLLM`` counts), in insertion order.
``prompt_template`` the first ``PromptTemplate`` in the resources, in insertion order.
``rollout``         the ``Rollout`` being run (an ``AttemptedRollout`` under the runner).
``resources``       the whole ``NamedResources`` dict, as given.
==================  ===============================================================================

``@rollout`` tries the LLM pattern first, then the prompt-template pattern; a function matching neither
raises ``NotImplementedError``. ``@llm_rollout`` / ``@prompt_rollout`` raise ``ValueError`` naming what is
wrong. Injected parameters other than ``task`` are passed by keyword, so they must not be positional-only.

``strip_proxy`` (default ``True``): a ``ProxyLLM`` is handed to the function as the plain ``LLM`` returned
by ``proxy.with_attempted_rollout(rollout)``, whose endpoint carries the rollout and attempt ids
(``http://host/rollout/ro-.../attempt/at-.../v1``), so the proxy can attribute each request. When the
rollout has no attempt (a bare ``Rollout``, e.g. when calling ``agent.rollout`` by hand), there is nothing
to attribute to and the ``ProxyLLM`` is passed unchanged (a warning is logged once per agent).

A sync agent is run with ``agent.rollout(task, resources, rollout)``, an async one with
``await agent.rollout_async(...)``; the wrong one raises ``RuntimeError``. The return value is the
function's, unchanged: turning it into spans is the runner's job.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar, overload

from agentlightning.types import LLM, NamedResources, PromptTemplate, ProxyLLM, Rollout

from .litagent import LitAgent, RolloutRawResult

__all__ = [
    "FunctionalLitAgent",
    "llm_rollout",
    "prompt_rollout",
    "rollout",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_LLM_SIGNATURE = "(task, llm[, rollout])"
_PROMPT_SIGNATURE = "(task, prompt_template[, rollout])"
_INJECTED = frozenset({"llm", "prompt_template", "rollout", "resources"})
_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _func_name(func: Any) -> str:
    return str(getattr(func, "__name__", None) or repr(func))


def _is_coroutine_callable(func: Any) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    # A callable object with ``async def __call__``.
    return callable(func) and not inspect.isfunction(func) and inspect.iscoroutinefunction(type(func).__call__)


def _keyword_params(sig: inspect.Signature) -> set[str]:
    """Names of the parameters that can be passed by keyword."""
    return {name for name, p in sig.parameters.items() if p.kind in _KEYWORD_KINDS}


def _validate_rollout_func(func: Any, resource_param: str) -> bool:
    name = _func_name(func)
    params = list(inspect.signature(func).parameters.values())
    if len(params) < 2:
        raise ValueError(f"Function {name} must have at least 2 parameters.")
    first = params[0]
    if first.name != "task" or first.kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise ValueError(f"Function {name} must be a positional parameter called 'task'.")
    if not any(p.name == resource_param and p.kind in _KEYWORD_KINDS for p in params[1:]):
        raise ValueError(f"Function {name} must have a positional parameter called '{resource_param}'.")
    return True


def _validate_llm_rollout_func(func: Any) -> bool:
    """Check that ``func`` looks like ``(task, llm[, rollout])``; ``ValueError`` saying what is wrong."""
    return _validate_rollout_func(func, "llm")


def _validate_prompt_rollout_func(func: Any) -> bool:
    """Check that ``func`` looks like ``(task, prompt_template[, rollout])``; ``ValueError`` otherwise."""
    return _validate_rollout_func(func, "prompt_template")


class FunctionalLitAgent(LitAgent[T]):
    """A :class:`LitAgent` made from a function; see the module documentation.

    Built directly, it does not check the function's shape: the first argument receives the task and the
    parameters named ``llm``, ``prompt_template``, ``rollout`` and ``resources`` are filled in. The
    decorators validate first.
    """

    _func: Callable[..., Any]

    def __init__(self, func: Callable[..., Any], *, strip_proxy: bool = True) -> None:
        if isinstance(func, FunctionalLitAgent):
            func = func._func
        # Copy the function's metadata first: update_wrapper also merges the function's __dict__ into ours,
        # which must not overwrite the fields set below.
        functools.update_wrapper(self, func)
        super().__init__()
        self._func = func
        self._strip_proxy = strip_proxy
        # Everything about the signature is decided here, once; rollout() only reads these flags.
        sig = inspect.signature(func)
        keyword = _keyword_params(sig)
        self._name = _func_name(func)
        self._is_async = _is_coroutine_callable(func)
        self._accepts_llm = "llm" in keyword
        self._accepts_prompt_template = "prompt_template" in keyword
        self._accepts_rollout_param = "rollout" in keyword
        self._accepts_resources = "resources" in keyword
        self._warned_unattempted_proxy = False
        self._warned_many_llms = False
        self._warn_unfillable(sig)

    def _warn_unfillable(self, sig: inspect.Signature) -> None:
        for i, (pname, p) in enumerate(sig.parameters.items()):
            if i == 0 or pname in _INJECTED or p.default is not p.empty:
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            logger.warning(
                "Parameter %r of agent %s has no default and will not be filled in by rollout(); "
                "rollouts will fail with TypeError.",
                pname,
                self._name,
            )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the original function, unchanged."""
        return self._func(*args, **kwargs)

    def __repr__(self) -> str:
        kind = "async" if self._is_async else "sync"
        return f"<{type(self).__name__} {self._name} ({kind})>"

    def __reduce_ex__(self, protocol: Any) -> Any:
        # A decorated module-level function is pickled by reference (its module attribute is this agent);
        # anything else falls back to the default, state-based pickling.
        if _resolves_to(self):
            return str(getattr(self, "__qualname__", self._name))
        return super().__reduce_ex__(protocol)

    def _accepts_rollout(self) -> bool:
        """Whether the function has a ``rollout`` parameter."""
        return self._accepts_rollout_param

    def is_async(self) -> bool:
        """Whether the function is a coroutine function."""
        return self._is_async

    def rollout(self, task: T, resources: NamedResources, rollout: Rollout) -> RolloutRawResult:
        """Call the (sync) function with the task and the parameters it asks for."""
        if self._is_async:
            raise RuntimeError(f"{self._name} is asynchronous. Use rollout_async instead.")
        return self._func(task, **self._get_kwargs(resources, rollout))  # type: ignore[no-any-return]

    async def rollout_async(self, task: T, resources: NamedResources, rollout: Rollout) -> RolloutRawResult:
        """Await the (async) function with the task and the parameters it asks for."""
        if not self._is_async:
            raise RuntimeError(f"{self._name} is synchronous. Use rollout instead.")
        return await self._func(task, **self._get_kwargs(resources, rollout))  # type: ignore[no-any-return]

    def _get_kwargs(self, resources: NamedResources, rollout: Rollout) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self._accepts_llm:
            kwargs["llm"] = self._get_llm_resource(resources, rollout)
        if self._accepts_prompt_template:
            kwargs["prompt_template"] = self._get_prompt_template_resource(resources)
        if self._accepts_rollout_param:
            kwargs["rollout"] = rollout
        if self._accepts_resources:
            kwargs["resources"] = resources
        return kwargs

    def _get_llm_resource(self, resources: NamedResources, rollout: Rollout) -> LLM:
        """The first LLM (or ProxyLLM) of the resources, stripped of its proxy when so configured."""
        found: list[str] = [name for name, res in resources.items() if isinstance(res, LLM)]
        if not found:
            raise ValueError(
                f"No LLM resource found in the provided resources: {_describe(resources)}. "
                f"Agent {self._name} has an 'llm' parameter; add an LLM or ProxyLLM to the resources."
            )
        if len(found) > 1 and not self._warned_many_llms:
            self._warned_many_llms = True
            logger.warning("Agent %s: several LLM resources %s; using the first, %r.", self._name, found, found[0])
        llm: LLM = resources[found[0]]  # type: ignore[assignment]
        if self._strip_proxy and isinstance(llm, ProxyLLM):
            if getattr(rollout, "attempt", None) is not None:
                return llm.with_attempted_rollout(rollout)
            if not self._warned_unattempted_proxy:
                self._warned_unattempted_proxy = True
                logger.warning(
                    "Agent %s: rollout %s has no attempt, so the ProxyLLM %r is passed unchanged.",
                    self._name,
                    getattr(rollout, "rollout_id", None),
                    found[0],
                )
        return llm

    def _get_prompt_template_resource(self, resources: NamedResources) -> PromptTemplate:
        """The first PromptTemplate of the resources."""
        for res in resources.values():
            if isinstance(res, PromptTemplate):
                return res
        raise ValueError(
            f"No prompt template resource found in the provided resources: {_describe(resources)}. "
            f"Agent {self._name} has a 'prompt_template' parameter; add a PromptTemplate to the resources."
        )


def _describe(resources: NamedResources) -> str:
    return "{" + ", ".join(f"{name!r}: {type(res).__name__}" for name, res in resources.items()) + "}"


def _resolves_to(obj: Any) -> bool:
    """Whether ``module.qualname`` names ``obj`` itself (so pickle can store it by reference)."""
    target: Any = sys.modules.get(getattr(obj, "__module__", "") or "")
    for part in str(getattr(obj, "__qualname__", "")).split("."):
        if part == "<locals>" or target is None:
            return False
        target = getattr(target, part, None)
    return target is obj


@overload
def llm_rollout(func: Callable[..., Any], *, strip_proxy: bool = True) -> FunctionalLitAgent[Any]: ...


@overload
def llm_rollout(
    func: None = None, *, strip_proxy: bool = True
) -> Callable[[Callable[..., Any]], FunctionalLitAgent[Any]]: ...


def llm_rollout(
    func: Callable[..., Any] | None = None, *, strip_proxy: bool = True
) -> FunctionalLitAgent[Any] | Callable[[Callable[..., Any]], FunctionalLitAgent[Any]]:
    """Make an agent of a function ``(task, llm[, rollout])``, sync or async.

    Use bare (``@llm_rollout``) or with options (``@llm_rollout(strip_proxy=False)``).
    Raises ``ValueError`` when the signature does not fit.
    """

    def decorator(f: Callable[..., Any]) -> FunctionalLitAgent[Any]:
        _validate_llm_rollout_func(f)
        return FunctionalLitAgent(f, strip_proxy=strip_proxy)

    return decorator if func is None else decorator(func)


@overload
def prompt_rollout(func: Callable[..., Any], *, strip_proxy: bool = True) -> FunctionalLitAgent[Any]: ...


@overload
def prompt_rollout(
    func: None = None, *, strip_proxy: bool = True
) -> Callable[[Callable[..., Any]], FunctionalLitAgent[Any]]: ...


def prompt_rollout(
    func: Callable[..., Any] | None = None, *, strip_proxy: bool = True
) -> FunctionalLitAgent[Any] | Callable[[Callable[..., Any]], FunctionalLitAgent[Any]]:
    """Make an agent of a function ``(task, prompt_template[, rollout])``, sync or async.

    Use bare (``@prompt_rollout``) or called (``@prompt_rollout()``). ``strip_proxy`` matters only when the
    function also has an ``llm`` parameter. Raises ``ValueError`` when the signature does not fit.
    """

    def decorator(f: Callable[..., Any]) -> FunctionalLitAgent[Any]:
        _validate_prompt_rollout_func(f)
        return FunctionalLitAgent(f, strip_proxy=strip_proxy)

    return decorator if func is None else decorator(func)


@overload
def rollout(func: Callable[..., Any], *, strip_proxy: bool = True) -> FunctionalLitAgent[Any]: ...


@overload
def rollout(
    func: None = None, *, strip_proxy: bool = True
) -> Callable[[Callable[..., Any]], FunctionalLitAgent[Any]]: ...


def rollout(
    func: Callable[..., Any] | None = None, *, strip_proxy: bool = True
) -> FunctionalLitAgent[Any] | Callable[[Callable[..., Any]], FunctionalLitAgent[Any]]:
    """Make an agent of a function, detecting its kind from its parameter names.

    Tries ``(task, llm[, rollout])`` first, then ``(task, prompt_template[, rollout])``; a function matching
    neither raises ``NotImplementedError``. Use bare (``@rollout``) or with options
    (``@rollout(strip_proxy=False)``).
    """

    def decorator(f: Callable[..., Any]) -> FunctionalLitAgent[Any]:
        try:
            _validate_llm_rollout_func(f)
        except ValueError as llm_error:
            try:
                _validate_prompt_rollout_func(f)
            except ValueError as prompt_error:
                raise NotImplementedError(
                    f"Function {_func_name(f)}{inspect.signature(f)} does not match any known agent patterns. "
                    f"Expected signatures: {_LLM_SIGNATURE} or {_PROMPT_SIGNATURE}, sync or async. "
                    f"As an LLM agent: {llm_error} As a prompt agent: {prompt_error}"
                ) from None
        return FunctionalLitAgent(f, strip_proxy=strip_proxy)

    return decorator if func is None else decorator(func)
