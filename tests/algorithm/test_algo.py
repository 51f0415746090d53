"""``Algorithm`` and ``@algo`` / ``FunctionalAlgorithm`` (SPEC section 3)."""

from __future__ import annotations

import gc
import inspect
import pickle
import re
import weakref
from typing import Any

import pytest

import agentlightning.algorithm as algorithm_pkg
from agentlightning.algorithm import Algorithm, FunctionalAlgorithm, algo
from agentlightning.types import LLM, PromptTemplate


class Component:
    """A stand-in for a store, trainer, adapter or LLM proxy: injection is by identity."""

    def __init__(self, name: str) -> None:
        self.name = name


RESOURCES: dict[str, Any] = {"llm": LLM(endpoint="http://x/v1", model="m"), "p": PromptTemplate(template="{q}")}


def _wired(algorithm: Algorithm) -> dict[str, Any]:
    """Set every component; return them (keep the dict alive: some are held weakly)."""
    parts: dict[str, Any] = {
        "store": Component("store"),
        "trainer": Component("trainer"),
        "adapter": Component("adapter"),
        "llm_proxy": Component("llm_proxy"),
        "initial_resources": RESOURCES,
    }
    for name, value in parts.items():
        getattr(algorithm, f"set_{name}")(value)
    return parts


def all_six(store: Any, adapter: Any, llm_proxy: Any, initial_resources: Any, train_dataset: Any, val_dataset: Any):
    """Receives everything."""
    return dict(
        store=store,
        adapter=adapter,
        llm_proxy=llm_proxy,
        initial_resources=initial_resources,
        train_dataset=train_dataset,
        val_dataset=val_dataset,
    )


@algo
def module_algo(*, store: Any) -> None:
    """A module-level algorithm (picklable by reference)."""


class SyncAlgorithm(Algorithm):
    def run(self, train_dataset: Any = None, val_dataset: Any = None) -> None:
        self.seen = (self.get_store(), train_dataset, val_dataset)


class AsyncAlgorithm(Algorithm):
    async def run(self, train_dataset: Any = None, val_dataset: Any = None) -> None:
        self.seen = (train_dataset, val_dataset)


# --- Algorithm base -------------------------------------------------------------------------------------


def test_base_run_raises_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match="run"):
        Algorithm().run()
    with pytest.raises(NotImplementedError, match="run"):
        Algorithm()()


def test_call_runs() -> None:
    alg = SyncAlgorithm()
    store = Component("store")
    alg.set_store(store)  # type: ignore[arg-type]
    alg([1], [2])
    assert alg.seen == (store, [1], [2])


async def test_is_async_follows_run() -> None:
    assert not Algorithm().is_async()
    assert not SyncAlgorithm().is_async()
    alg = AsyncAlgorithm()
    assert alg.is_async()
    await alg.run([1])
    assert alg.seen == ([1], None)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("store", "Store has not been set for this algorithm."),
        ("trainer", "Trainer has not been set for this algorithm."),
        ("llm_proxy", "LLM proxy has not been set for this algorithm."),
        ("adapter", "Adapter has not been set for this algorithm."),
        ("initial_resources", "Initial resources have not been set for this algorithm."),
    ],
)
def test_getter_with_nothing_set_raises_value_error(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        getattr(Algorithm(), f"get_{name}")()


def test_getters_return_what_was_set() -> None:
    alg = Algorithm()
    parts = _wired(alg)
    for name, value in parts.items():
        assert getattr(alg, f"get_{name}")() is value


@pytest.mark.parametrize("name", ["trainer", "llm_proxy", "adapter"])
def test_trainer_llm_proxy_and_adapter_are_held_weakly(name: str) -> None:
    alg = Algorithm()
    component = Component(name)
    getattr(alg, f"set_{name}")(component)
    ref = weakref.ref(component)
    del component
    gc.collect()
    assert ref() is None, f"the algorithm must not keep its {name} alive"
    with pytest.raises(ValueError, match="no longer valid"):
        getattr(alg, f"get_{name}")()


def test_store_and_initial_resources_are_held_strongly() -> None:
    alg = Algorithm()
    store = Component("store")
    alg.set_store(store)  # type: ignore[arg-type]
    alg.set_initial_resources({"p": PromptTemplate(template="x")})
    ref = weakref.ref(store)
    del store
    gc.collect()
    assert ref() is not None
    assert alg.get_store() is ref()
    assert alg.get_initial_resources() == {"p": PromptTemplate(template="x")}


@pytest.mark.parametrize("name", ["store", "trainer", "llm_proxy", "adapter", "initial_resources"])
def test_setting_none_forgets(name: str) -> None:
    alg = Algorithm()
    parts = _wired(alg)
    getattr(alg, f"set_{name}")(None)
    with pytest.raises(ValueError, match="not been set"):
        getattr(alg, f"get_{name}")()
    assert parts  # kept alive until here


def test_pickling_drops_weak_references() -> None:
    alg = SyncAlgorithm()
    parts = _wired(alg)
    alg.set_store(None)  # a real store may not pickle; not the algorithm's business
    clone = pickle.loads(pickle.dumps(alg))
    assert clone.get_initial_resources() == RESOURCES
    for name in ("trainer", "llm_proxy", "adapter"):
        with pytest.raises(ValueError, match="not been set"):
            getattr(clone, f"get_{name}")()
    assert alg.get_trainer() is parts["trainer"]


# --- @algo: still the function ----------------------------------------------------------------------------


def test_algo_preserves_function_metadata_and_signature() -> None:
    wrapped = algo(all_six)
    assert isinstance(wrapped, FunctionalAlgorithm)
    assert isinstance(wrapped, Algorithm)
    assert wrapped.__name__ == "all_six"
    assert wrapped.__qualname__ == "all_six"
    assert wrapped.__doc__ == "Receives everything."
    assert wrapped.__module__ == all_six.__module__
    assert wrapped.__wrapped__ is all_six
    assert inspect.signature(wrapped) == inspect.signature(all_six)
    assert not wrapped.is_async()
    assert wrapped(1, 2, 3, 4, 5, 6) == all_six(1, 2, 3, 4, 5, 6)
    assert repr(wrapped) == "<FunctionalAlgorithm all_six (sync)>"


async def test_async_algo_is_still_the_function() -> None:
    @algo
    async def search(*, train_dataset: Any) -> Any:
        """Async search."""
        return train_dataset

    assert search.is_async()
    assert search.__name__ == "search"
    assert search.__doc__ == "Async search."
    assert list(inspect.signature(search).parameters) == ["train_dataset"]
    coro = search(train_dataset=[1])
    assert inspect.iscoroutine(coro)
    assert await coro == [1]


def test_redecorating_wraps_the_original_function() -> None:
    wrapped = algo(algo(all_six))
    assert wrapped._func is all_six


def test_module_level_algo_pickles_by_reference() -> None:
    assert pickle.loads(pickle.dumps(module_algo)) is module_algo


# --- @algo: injection -------------------------------------------------------------------------------------


def test_run_injects_all_six_by_name() -> None:
    wrapped = algo(all_six)
    parts = _wired(wrapped)
    train, val = [1, 2], [3]
    got = wrapped.run(train, val)
    assert got == {**{k: v for k, v in parts.items() if k != "trainer"}, "train_dataset": train, "val_dataset": val}
    for name in ("store", "adapter", "llm_proxy", "initial_resources"):
        assert got[name] is parts[name]  # type: ignore[index]
    assert got["train_dataset"] is train  # type: ignore[index]


def test_run_injects_only_declared_parameters_as_keywords() -> None:
    calls: list[dict[str, Any]] = []

    @algo
    def only_store(*, store: Any) -> None:
        calls.append({"store": store})

    parts = _wired(only_store)
    assert only_store.run() is None
    assert calls == [{"store": parts["store"]}]


def test_run_passes_none_datasets_when_not_given() -> None:
    @algo
    def datasets(train_dataset: Any, val_dataset: Any) -> Any:
        return train_dataset, val_dataset

    assert datasets.run() == (None, None)
    assert datasets.run(val_dataset=[1]) == (None, [1])


def test_missing_optional_components_are_injected_as_none() -> None:
    @algo
    def optional(llm_proxy: Any, initial_resources: Any) -> Any:
        return llm_proxy, initial_resources

    assert optional.run() == (None, None)


def test_missing_component_with_default_keeps_the_default() -> None:
    @algo
    def defaults(store: Any = "default-store", adapter: Any = "a", llm_proxy: Any = "p", initial_resources: Any = 0):
        return store, adapter, llm_proxy, initial_resources

    assert defaults.run() == ("default-store", "a", "p", 0)
    parts = _wired(defaults)
    assert defaults.run() == (parts["store"], parts["adapter"], parts["llm_proxy"], RESOURCES)


def _needs_store(store: Any) -> Any:
    return store


def _needs_adapter(adapter: Any) -> Any:
    return adapter


@pytest.mark.parametrize(("func", "message"), [(_needs_store, "Store has not"), (_needs_adapter, "Adapter has not")])
def test_missing_required_component_raises_value_error(func: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FunctionalAlgorithm(func).run()


def test_dead_llm_proxy_raises_value_error() -> None:
    @algo
    def uses_proxy(llm_proxy: Any = None) -> Any:
        return llm_proxy

    proxy = Component("proxy")
    uses_proxy.set_llm_proxy(proxy)
    assert uses_proxy.run() is proxy
    del proxy
    gc.collect()
    with pytest.raises(ValueError, match="no longer valid"):
        uses_proxy.run()


@pytest.mark.parametrize("which", ["train_dataset", "val_dataset"])
def test_dataset_for_function_without_that_parameter_raises_type_error(which: str) -> None:
    @algo
    def no_datasets(*, store: Any = None) -> None:
        pass

    message = f"{which} is provided but not supported by the algorithm function: no_datasets"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        no_datasets.run(**{which: [1]})
    no_datasets.run()  # no dataset given: fine


def test_type_error_comes_before_missing_components() -> None:
    @algo
    def store_only(store: Any) -> None:
        pass

    with pytest.raises(TypeError, match="train_dataset is provided"):
        store_only.run([1])


async def test_async_run_returns_coroutine_with_injections() -> None:
    @algo
    async def async_all(
        store: Any, adapter: Any, llm_proxy: Any, initial_resources: Any, train_dataset: Any, val_dataset: Any
    ):
        return store, adapter, llm_proxy, initial_resources, train_dataset, val_dataset

    parts = _wired(async_all)
    coro = async_all.run([1], [2])
    assert inspect.iscoroutine(coro)
    assert await coro == (parts["store"], parts["adapter"], parts["llm_proxy"], RESOURCES, [1], [2])
    with pytest.raises(TypeError, match="val_dataset is provided"):
        algo(lambda store: None).run(val_dataset=[1])


def test_public_names() -> None:
    assert algorithm_pkg.__all__ == ["Algorithm", "FunctionalAlgorithm", "algo"]
    assert algorithm_pkg.algo is algorithm_pkg.decorator.algo
    assert algorithm_pkg.Algorithm is algorithm_pkg.base.Algorithm
