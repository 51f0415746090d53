"""``LitAgent``: rollout delegation, async detection, runner/trainer/tracer references (SPEC section 3)."""

from __future__ import annotations

import ast
import gc
import pickle
import weakref
from pathlib import Path
from typing import Any

import pytest

import agentlightning.litagent as litagent_pkg
from agentlightning.litagent import LitAgent
from agentlightning.litagent.litagent import RolloutRawResult
from agentlightning.types import Attempt, AttemptedRollout, NamedResources, ParallelWorkerBase, Rollout

RID = "ro-0123456789ab"


def _attempted() -> AttemptedRollout:
    return AttemptedRollout(
        rollout_id=RID, input="t", attempt=Attempt(rollout_id=RID, attempt_id="at-01234567", sequence_id=1)
    )


class SyncAgent(LitAgent[dict[str, Any]]):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []

    def rollout(self, task: dict[str, Any], resources: NamedResources, rollout: Rollout) -> float:
        self.calls.append((task, resources, rollout))
        return 1.0


class AsyncAgent(LitAgent[str]):
    async def rollout_async(self, task: str, resources: NamedResources, rollout: Rollout) -> float:
        return 2.0


class AsyncTrainingOnly(LitAgent[str]):
    async def training_rollout_async(self, task: str, resources: NamedResources, rollout: Rollout) -> float:
        return 3.0


class AsyncValidationOnly(LitAgent[str]):
    async def validation_rollout_async(self, task: str, resources: NamedResources, rollout: Rollout) -> float:
        return 4.0


class InheritsAsync(AsyncAgent):
    pass


class SplitAgent(LitAgent[str]):
    def training_rollout(self, task: str, resources: NamedResources, rollout: Rollout) -> float:
        return 0.25


class Owner:
    """Stands for a runner or a trainer: anything with a ``tracer`` attribute."""

    def __init__(self, tracer: Any = None) -> None:
        self.tracer = tracer


class OwnerWithGetter:
    def __init__(self, tracer: Any) -> None:
        self._tracer = tracer

    def get_tracer(self) -> Any:
        return self._tracer


# --- rollouts -------------------------------------------------------------------------------------------


def test_base_rollout_methods_raise_not_implemented() -> None:
    agent: LitAgent[Any] = LitAgent()
    with pytest.raises(NotImplementedError, match="rollout"):
        agent.rollout("t", {}, _attempted())
    with pytest.raises(NotImplementedError, match="rollout"):
        agent.training_rollout("t", {}, _attempted())
    with pytest.raises(NotImplementedError, match="rollout"):
        agent.validation_rollout("t", {}, _attempted())


async def test_base_async_rollout_methods_raise_not_implemented() -> None:
    agent: LitAgent[Any] = LitAgent()
    with pytest.raises(NotImplementedError, match="rollout_async"):
        await agent.rollout_async("t", {}, _attempted())
    with pytest.raises(NotImplementedError, match="rollout_async"):
        await agent.training_rollout_async("t", {}, _attempted())
    with pytest.raises(NotImplementedError, match="rollout_async"):
        await agent.validation_rollout_async("t", {}, _attempted())


def test_training_and_validation_rollout_delegate_to_rollout() -> None:
    agent = SyncAgent()
    ro = _attempted()
    resources: NamedResources = {}
    assert agent.training_rollout({"q": 1}, resources, ro) == 1.0
    assert agent.validation_rollout({"q": 2}, resources, ro) == 1.0
    assert agent.calls == [({"q": 1}, resources, ro), ({"q": 2}, resources, ro)]


async def test_async_training_and_validation_rollout_delegate_to_rollout_async() -> None:
    agent = AsyncAgent()
    assert await agent.training_rollout_async("t", {}, _attempted()) == 2.0
    assert await agent.validation_rollout_async("t", {}, _attempted()) == 2.0


def test_overriding_training_rollout_leaves_validation_on_rollout() -> None:
    agent = SplitAgent()
    assert agent.training_rollout("t", {}, _attempted()) == 0.25
    with pytest.raises(NotImplementedError):
        agent.validation_rollout("t", {}, _attempted())


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (LitAgent, False),
        (SyncAgent, False),
        (SplitAgent, False),
        (AsyncAgent, True),
        (AsyncTrainingOnly, True),
        (AsyncValidationOnly, True),
        (InheritsAsync, True),
    ],
)
def test_is_async_when_any_async_method_is_overridden(cls: type[LitAgent[Any]], expected: bool) -> None:
    assert cls().is_async() is expected


def test_litagent_is_generic_and_a_parallel_worker() -> None:
    agent = SyncAgent()
    assert isinstance(agent, ParallelWorkerBase)
    agent.init_worker(3)
    assert agent.worker_id == 3
    assert LitAgent[int] is not LitAgent


def test_trained_agents_is_kept() -> None:
    assert LitAgent().trained_agents is None
    assert LitAgent(trained_agents="solver.*").trained_agents == "solver.*"
    with pytest.raises(TypeError):
        LitAgent("positional")  # type: ignore[misc]

    class NoSuperInit(LitAgent[str]):
        def __init__(self) -> None:
            pass

    assert NoSuperInit().trained_agents is None


# --- runner, trainer, tracer ----------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["runner", "trainer"])
def test_missing_runner_or_trainer_raises_value_error(what: str) -> None:
    agent = SyncAgent()
    with pytest.raises(ValueError, match=f"^{what.capitalize()} has not been set for this agent."):
        getattr(agent, f"get_{what}")()
    with pytest.raises(ValueError, match="has not been set"):
        getattr(agent, what)


@pytest.mark.parametrize("what", ["runner", "trainer"])
def test_runner_and_trainer_are_held_weakly(what: str) -> None:
    agent = SyncAgent()
    owner = Owner()
    getattr(agent, f"set_{what}")(owner)
    assert getattr(agent, f"get_{what}")() is owner
    assert getattr(agent, what) is owner

    ref = weakref.ref(owner)
    del owner
    gc.collect()
    assert ref() is None, "the agent must not keep its runner/trainer alive"
    with pytest.raises(ValueError, match="no longer valid"):
        getattr(agent, f"get_{what}")()
    with pytest.raises(ValueError, match="no longer valid"):
        getattr(agent, what)


@pytest.mark.parametrize("what", ["runner", "trainer"])
def test_setting_none_forgets(what: str) -> None:
    agent = SyncAgent()
    owner = Owner()
    getattr(agent, f"set_{what}")(owner)
    getattr(agent, f"set_{what}")(None)
    with pytest.raises(ValueError, match="has not been set"):
        getattr(agent, f"get_{what}")()


def test_tracer_prefers_the_runner() -> None:
    agent = SyncAgent()
    runner, trainer = Owner(tracer="runner-tracer"), Owner(tracer="trainer-tracer")
    agent.set_runner(runner)
    agent.set_trainer(trainer)
    assert agent.tracer == "runner-tracer"
    assert agent.get_tracer() == "runner-tracer"


def test_tracer_falls_back_to_the_trainer() -> None:
    agent = SyncAgent()
    trainer = Owner(tracer="trainer-tracer")
    agent.set_trainer(trainer)
    assert agent.tracer == "trainer-tracer"

    runner_without_tracer = Owner(tracer=None)
    agent.set_runner(runner_without_tracer)
    assert agent.tracer == "trainer-tracer"

    dead_runner = Owner(tracer="dead")
    agent.set_runner(dead_runner)
    del dead_runner
    gc.collect()
    assert agent.tracer == "trainer-tracer"


def test_tracer_from_get_tracer_method() -> None:
    agent = SyncAgent()
    runner = OwnerWithGetter("via-getter")
    agent.set_runner(runner)
    assert agent.tracer == "via-getter"


def test_no_tracer_raises_value_error() -> None:
    agent = SyncAgent()
    with pytest.raises(ValueError, match="No tracer available"):
        _ = agent.tracer
    runner = Owner(tracer=None)
    agent.set_runner(runner)
    with pytest.raises(ValueError, match="No tracer available"):
        agent.get_tracer()


def test_pickling_drops_weak_references() -> None:
    agent = SyncAgent()
    runner, trainer = Owner(), Owner()
    agent.set_runner(runner)
    agent.set_trainer(trainer)
    clone = pickle.loads(pickle.dumps(agent))
    assert isinstance(clone, SyncAgent)
    assert clone.calls == []
    with pytest.raises(ValueError, match="has not been set"):
        clone.get_runner()
    with pytest.raises(ValueError, match="has not been set"):
        clone.get_trainer()
    assert agent.get_runner() is runner  # the original keeps its references


# --- package surface ------------------------------------------------------------------------------------


def test_public_names() -> None:
    expected = ["FunctionalLitAgent", "LitAgent", "llm_rollout", "prompt_rollout", "rollout"]
    assert litagent_pkg.__all__ == expected
    for name in expected:
        assert getattr(litagent_pkg, name) is not None
    assert litagent_pkg.rollout is litagent_pkg.decorator.rollout
    assert litagent_pkg.LitAgent is litagent_pkg.litagent.LitAgent


def test_rollout_result_alias_is_usable_without_the_sdk() -> None:
    assert RolloutRawResult is not None
    assert float in RolloutRawResult.__args__  # type: ignore[attr-defined]


@pytest.mark.parametrize("package", ["litagent", "algorithm"])
def test_no_eager_opentelemetry_sdk_import(package: str) -> None:
    """Our modules import the OpenTelemetry SDK only under TYPE_CHECKING (``import agentlightning`` stays light)."""
    root = Path(litagent_pkg.__file__).parent.parent / package
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level, outside `if TYPE_CHECKING:`
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.startswith("opentelemetry.sdk") for n in names), f"{path}: {names}"
