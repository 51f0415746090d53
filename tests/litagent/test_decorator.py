"""``@rollout`` / ``@llm_rollout`` / ``@prompt_rollout`` and ``FunctionalLitAgent`` (SPEC section 3)."""

from __future__ import annotations

import inspect
import logging
import pickle
import re
from typing import Any

import pytest

from agentlightning.litagent import FunctionalLitAgent, LitAgent, llm_rollout, prompt_rollout, rollout
from agentlightning.litagent.decorator import _validate_llm_rollout_func, _validate_prompt_rollout_func
from agentlightning.types import LLM, Attempt, AttemptedRollout, PromptTemplate, ProxyLLM, Rollout, SpanCoreFields

RID, AID = "ro-0123456789ab", "at-01234567"


def _attempted() -> AttemptedRollout:
    return AttemptedRollout(
        rollout_id=RID, input="task", attempt=Attempt(rollout_id=RID, attempt_id=AID, sequence_id=1)
    )


def _proxy() -> ProxyLLM:
    return ProxyLLM(endpoint="http://localhost:8000/v1", model="m", api_key="k", sampling_parameters={"t": 0.5})


def _llm(model: str = "m") -> LLM:
    return LLM(endpoint="http://localhost:9000/v1", model=model)


def _prompt(template: str = "Q: {q}") -> PromptTemplate:
    return PromptTemplate(template=template)


def llm_func(task: Any, llm: LLM) -> Any:
    """An LLM agent."""
    return (task, llm)


def llm_func_rollout(task: Any, llm: LLM, rollout: Rollout) -> Any:
    """An LLM agent taking the rollout."""
    return (task, llm, rollout)


async def async_llm_func(task: Any, llm: LLM) -> Any:
    """An async LLM agent."""
    return (task, llm)


def prompt_func(task: Any, prompt_template: PromptTemplate) -> Any:
    """A prompt agent."""
    return (task, prompt_template)


async def async_prompt_func(task: Any, prompt_template: PromptTemplate, rollout: Rollout) -> Any:
    """An async prompt agent taking the rollout."""
    return (task, prompt_template, rollout)


@rollout
def module_agent(task: Any, llm: LLM) -> float:
    """A module-level agent (picklable by reference)."""
    return 1.0


LLM_DECORATORS = [llm_rollout, llm_rollout(), llm_rollout(strip_proxy=False), rollout, rollout(strip_proxy=False)]
PROMPT_DECORATORS = [prompt_rollout, prompt_rollout(), prompt_rollout(strip_proxy=False), rollout]


# --- still the function: executability, metadata, signature ----------------------------------------


SYNC_CASES = [(d, f) for d in LLM_DECORATORS for f in (llm_func, llm_func_rollout)] + [
    (d, prompt_func) for d in PROMPT_DECORATORS
]


@pytest.mark.parametrize(("decorate", "func"), SYNC_CASES)
def test_decorated_agent_is_litagent_and_still_the_function(decorate: Any, func: Any) -> None:
    agent = decorate(func)
    assert isinstance(agent, FunctionalLitAgent)
    assert isinstance(agent, LitAgent)
    assert callable(agent)
    args = ("t", "x", "r")[: len(inspect.signature(func).parameters)]
    assert agent(*args) == func(*args)
    assert agent.__name__ == func.__name__
    assert agent.__qualname__ == func.__qualname__
    assert agent.__doc__ == func.__doc__
    assert agent.__module__ == func.__module__
    assert agent.__wrapped__ is func
    assert inspect.signature(agent) == inspect.signature(func)
    assert not agent.is_async()


def test_direct_call_passes_keywords_and_never_injects() -> None:
    agent = llm_rollout(llm_func)
    assert agent(task="t", llm="gpt-4") == ("t", "gpt-4")
    assert agent("Hello World", "gpt-4") == ("Hello World", "gpt-4")


@pytest.mark.parametrize("decorate", [llm_rollout, rollout, llm_rollout(strip_proxy=False)])
async def test_async_llm_agent_returns_coroutine_when_called(decorate: Any) -> None:
    agent = decorate(async_llm_func)
    assert agent.is_async()
    coro = agent("t", "llm")
    assert inspect.iscoroutine(coro)
    assert await coro == ("t", "llm")
    assert agent.__name__ == "async_llm_func"
    assert agent.__doc__ == "An async LLM agent."
    assert list(inspect.signature(agent).parameters) == ["task", "llm"]


@pytest.mark.parametrize("decorate", [prompt_rollout, prompt_rollout(), rollout])
async def test_async_prompt_agent_returns_coroutine_when_called(decorate: Any) -> None:
    agent = decorate(async_prompt_func)
    assert agent.is_async()
    coro = agent("t", "p", "r")
    assert inspect.iscoroutine(coro)
    assert await coro == ("t", "p", "r")
    assert list(inspect.signature(agent).parameters) == ["task", "prompt_template", "rollout"]


def test_async_callable_object_is_detected() -> None:
    class Agent:
        async def __call__(self, task: Any, llm: LLM) -> float:
            return 1.0

    assert FunctionalLitAgent(Agent()).is_async()
    assert not FunctionalLitAgent(llm_func).is_async()


# --- strip_proxy ---------------------------------------------------------------------------------------


def _received_llm(agent: FunctionalLitAgent[Any], resources: dict[str, Any], rollout_obj: Rollout) -> Any:
    return agent.rollout("t", resources, rollout_obj)[1]


@pytest.mark.parametrize("decorate", [llm_rollout, llm_rollout(strip_proxy=True), rollout, FunctionalLitAgent])
def test_strip_proxy_on_and_default_gives_attempt_scoped_llm(decorate: Any) -> None:
    proxy = _proxy()
    llm = _received_llm(decorate(llm_func), {"main": proxy}, _attempted())
    assert type(llm) is LLM
    assert llm.endpoint == f"http://localhost:8000/rollout/{RID}/attempt/{AID}/v1"
    assert (llm.model, llm.api_key, llm.sampling_parameters) == ("m", "k", {"t": 0.5})
    assert proxy.endpoint == "http://localhost:8000/v1"  # the resource itself is untouched


@pytest.mark.parametrize("decorate", [llm_rollout(strip_proxy=False), rollout(strip_proxy=False)])
def test_strip_proxy_off_passes_proxy_unchanged(decorate: Any) -> None:
    proxy = _proxy()
    assert _received_llm(decorate(llm_func), {"main": proxy}, _attempted()) is proxy


async def test_strip_proxy_applies_to_async_agents() -> None:
    _, llm = await llm_rollout(async_llm_func).rollout_async("t", {"main": _proxy()}, _attempted())
    assert type(llm) is LLM
    assert llm.endpoint == f"http://localhost:8000/rollout/{RID}/attempt/{AID}/v1"


def test_strip_proxy_without_attempt_passes_proxy_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    agent = llm_rollout(llm_func)
    proxy = _proxy()
    with caplog.at_level(logging.WARNING, logger="agentlightning.litagent.decorator"):
        assert _received_llm(agent, {"main": proxy}, Rollout(rollout_id=RID, input="t")) is proxy
        assert _received_llm(agent, {"main": proxy}, Rollout(rollout_id=RID, input="t")) is proxy
    assert len([r for r in caplog.records if "has no attempt" in r.getMessage()]) == 1


def test_plain_llm_is_passed_as_is() -> None:
    llm = _llm()
    assert _received_llm(llm_rollout(llm_func), {"main": llm}, _attempted()) is llm


# --- injection -----------------------------------------------------------------------------------------


def test_first_llm_in_insertion_order(caplog: pytest.LogCaptureFixture) -> None:
    first, second = _llm("first"), _llm("second")
    resources: dict[str, Any] = {"prompt": _prompt(), "z_llm": first, "a_llm": second}
    with caplog.at_level(logging.WARNING, logger="agentlightning.litagent.decorator"):
        assert _received_llm(llm_rollout(llm_func), resources, _attempted()) is first
    assert "several LLM resources" in caplog.text


def test_proxy_llm_counts_as_llm() -> None:
    proxy = _proxy()
    resources: dict[str, Any] = {"proxy": proxy, "plain": _llm()}
    assert _received_llm(llm_rollout(strip_proxy=False)(llm_func), resources, _attempted()) is proxy
    assert _received_llm(llm_rollout(llm_func), resources, _attempted()).model == "m"


def test_first_prompt_template_in_insertion_order() -> None:
    first, second = _prompt("first"), _prompt("second")
    resources: dict[str, Any] = {"llm": _llm(), "b": first, "a": second}
    assert prompt_rollout(prompt_func).rollout("t", resources, _attempted()) == ("t", first)


@pytest.mark.parametrize("resources", [{}, {"p": PromptTemplate(template="x")}])
def test_no_llm_raises_value_error(resources: dict[str, Any]) -> None:
    agent = llm_rollout(llm_func)
    with pytest.raises(ValueError, match=r"^No LLM resource found in the provided resources: ") as info:
        agent.rollout("t", resources, _attempted())
    assert "llm_func" in str(info.value)
    if resources:
        assert "'p': PromptTemplate" in str(info.value)


@pytest.mark.parametrize("resources", [{}, {"l": LLM(endpoint="http://x", model="m")}])
def test_no_prompt_template_raises_value_error(resources: dict[str, Any]) -> None:
    agent = prompt_rollout(prompt_func)
    with pytest.raises(ValueError, match=r"^No prompt template resource found in the provided resources: "):
        agent.rollout("t", resources, _attempted())


def test_rollout_and_resources_parameters_are_injected() -> None:
    def agent_func(task: Any, llm: LLM, rollout: Rollout, resources: dict[str, Any]) -> Any:
        return task, llm, rollout, resources

    agent = rollout(agent_func)
    assert agent._accepts_rollout()
    llm, ro = _llm(), _attempted()
    resources: dict[str, Any] = {"main": llm}
    task, got_llm, got_rollout, got_resources = agent.rollout("t", resources, ro)
    assert (task, got_llm, got_rollout, got_resources) == ("t", llm, ro, resources)
    assert got_rollout is ro
    assert got_resources is resources


def test_accepts_rollout_flag() -> None:
    assert llm_rollout(llm_func_rollout)._accepts_rollout()
    assert prompt_rollout(async_prompt_func)._accepts_rollout()
    assert not llm_rollout(llm_func)._accepts_rollout()
    assert not prompt_rollout(prompt_func)._accepts_rollout()


def test_rollout_parameter_receives_plain_rollout() -> None:
    ro = Rollout(rollout_id=RID, input="t")
    assert llm_rollout(llm_func_rollout).rollout("t", {"l": _llm()}, ro)[2] is ro


def test_keyword_only_and_positional_only_task_are_supported() -> None:
    def agent_func(task: Any, /, *, llm: LLM, rollout: Rollout) -> Any:
        return task, llm, rollout

    llm, ro = _llm(), _attempted()
    assert rollout(agent_func).rollout("t", {"l": llm}, ro) == ("t", llm, ro)


def test_function_with_llm_and_prompt_template_receives_both() -> None:
    def agent_func(task: Any, llm: LLM, prompt_template: PromptTemplate) -> Any:
        return task, llm, prompt_template

    llm, prompt = _llm(), _prompt()
    for decorate in (rollout, llm_rollout, prompt_rollout):
        assert decorate(agent_func).rollout("t", {"p": prompt, "l": llm}, _attempted()) == ("t", llm, prompt)


def test_functional_agent_built_directly_injects_by_name_without_validation() -> None:
    def agent_func(task: Any, resources: dict[str, Any]) -> Any:
        return task, resources

    resources: dict[str, Any] = {"l": _llm()}
    agent = FunctionalLitAgent(agent_func)
    assert agent.rollout("t", resources, _attempted()) == ("t", resources)


def test_unfillable_parameter_is_warned_at_decoration(caplog: pytest.LogCaptureFixture) -> None:
    def agent_func(task: Any, llm: LLM, extra: int, optional: int = 1) -> Any:
        return None

    with caplog.at_level(logging.WARNING, logger="agentlightning.litagent.decorator"):
        rollout(agent_func)
    assert "'extra'" in caplog.text
    assert "'optional'" not in caplog.text


def test_return_value_is_passed_through_unchanged() -> None:
    spans = [SpanCoreFields(name="s")]
    for value in (None, 0.5, 1, True, spans, "anything"):
        agent = llm_rollout(lambda task, llm, v=value: v)
        assert agent.rollout("t", {"l": _llm()}, _attempted()) is value


# --- sync / async misuse and delegation ---------------------------------------------------------------


def test_rollout_on_async_agent_raises_runtime_error() -> None:
    agent = llm_rollout(async_llm_func)
    message = "async_llm_func is asynchronous. Use rollout_async instead."
    with pytest.raises(RuntimeError, match=f"^{re.escape(message)}$"):
        agent.rollout("t", {"l": _llm()}, _attempted())
    with pytest.raises(RuntimeError, match=re.escape(message)):
        agent.training_rollout("t", {"l": _llm()}, _attempted())
    with pytest.raises(RuntimeError, match=re.escape(message)):
        agent.validation_rollout("t", {"l": _llm()}, _attempted())


async def test_rollout_async_on_sync_agent_raises_runtime_error() -> None:
    agent = llm_rollout(llm_func)
    message = "llm_func is synchronous. Use rollout instead."
    with pytest.raises(RuntimeError, match=f"^{re.escape(message)}$"):
        await agent.rollout_async("t", {"l": _llm()}, _attempted())
    with pytest.raises(RuntimeError, match=re.escape(message)):
        await agent.training_rollout_async("t", {"l": _llm()}, _attempted())
    with pytest.raises(RuntimeError, match=re.escape(message)):
        await agent.validation_rollout_async("t", {"l": _llm()}, _attempted())


def test_training_and_validation_rollout_delegate_for_sync_agents() -> None:
    llm = _llm()
    agent = llm_rollout(llm_func)
    assert agent.training_rollout("t", {"l": llm}, _attempted()) == ("t", llm)
    assert agent.validation_rollout("v", {"l": llm}, _attempted()) == ("v", llm)


async def test_training_and_validation_rollout_delegate_for_async_agents() -> None:
    prompt, ro = _prompt(), _attempted()
    agent = prompt_rollout(async_prompt_func)
    assert await agent.rollout_async("t", {"p": prompt}, ro) == ("t", prompt, ro)
    assert await agent.training_rollout_async("t", {"p": prompt}, ro) == ("t", prompt, ro)
    assert await agent.validation_rollout_async("v", {"p": prompt}, ro) == ("v", prompt, ro)


# --- validation errors (texts are a contract) -----------------------------------------------------------


def _too_few(task: Any) -> None: ...
def _not_task(input: Any, llm: LLM, prompt_template: PromptTemplate) -> None: ...
def _task_second(llm: LLM, task: Any, prompt_template: PromptTemplate) -> None: ...
def _var_task(*task: Any, llm: LLM, prompt_template: PromptTemplate) -> None: ...
def _neither(task: Any, model: LLM) -> None: ...
def _positional_only_llm(task: Any, llm: LLM, /) -> None: ...


@pytest.mark.parametrize(
    ("func", "suffix"),
    [
        (_too_few, "must have at least 2 parameters."),
        (_not_task, "must be a positional parameter called 'task'."),
        (_task_second, "must be a positional parameter called 'task'."),
        (_var_task, "must be a positional parameter called 'task'."),
        (_neither, "must have a positional parameter called 'llm'."),
        (_positional_only_llm, "must have a positional parameter called 'llm'."),
    ],
)
def test_llm_validation_errors(func: Any, suffix: str) -> None:
    message = f"^Function {func.__name__} {re.escape(suffix)}$"
    with pytest.raises(ValueError, match=message):
        _validate_llm_rollout_func(func)
    with pytest.raises(ValueError, match=message):
        llm_rollout(func)
    with pytest.raises(ValueError, match=message):
        llm_rollout(strip_proxy=False)(func)


@pytest.mark.parametrize(
    ("func", "suffix"),
    [
        (_too_few, "must have at least 2 parameters."),
        (_not_task, "must be a positional parameter called 'task'."),
        (_var_task, "must be a positional parameter called 'task'."),
        (_neither, "must have a positional parameter called 'prompt_template'."),
    ],
)
def test_prompt_validation_errors(func: Any, suffix: str) -> None:
    message = f"^Function {func.__name__} {re.escape(suffix)}$"
    with pytest.raises(ValueError, match=message):
        _validate_prompt_rollout_func(func)
    with pytest.raises(ValueError, match=message):
        prompt_rollout(func)


def test_validators_return_true_for_valid_functions() -> None:
    assert _validate_llm_rollout_func(llm_func) is True
    assert _validate_llm_rollout_func(llm_func_rollout) is True
    assert _validate_llm_rollout_func(async_llm_func) is True
    assert _validate_prompt_rollout_func(prompt_func) is True
    assert _validate_prompt_rollout_func(async_prompt_func) is True


@pytest.mark.parametrize("func", [_too_few, _neither, _not_task])
def test_rollout_on_unknown_pattern_raises_not_implemented(func: Any) -> None:
    with pytest.raises(NotImplementedError, match="does not match any known agent patterns") as info:
        rollout(func)
    message = str(info.value)
    assert func.__name__ in message
    assert "(task, llm[, rollout])" in message
    assert "(task, prompt_template[, rollout])" in message


def test_rollout_with_options_on_unknown_pattern_raises_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match="does not match any known agent patterns"):

        @rollout(strip_proxy=False)
        def invalid_agent(task: Any, unknown_param: Any) -> Any:
            return None


# --- odds and ends --------------------------------------------------------------------------------------


def test_redecorating_wraps_the_original_function() -> None:
    agent = rollout(llm_rollout(llm_func))
    assert agent._func is llm_func
    assert agent.__wrapped__ is llm_func


def test_repr_names_function_and_kind() -> None:
    assert repr(llm_rollout(llm_func)) == "<FunctionalLitAgent llm_func (sync)>"
    assert repr(llm_rollout(async_llm_func)) == "<FunctionalLitAgent async_llm_func (async)>"


def test_module_level_agent_pickles_by_reference() -> None:
    class Runner:
        tracer = None

    runner = Runner()
    module_agent.set_runner(runner)
    try:
        assert pickle.loads(pickle.dumps(module_agent)) is module_agent
    finally:
        module_agent.set_runner(None)
