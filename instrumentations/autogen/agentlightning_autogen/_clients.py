"""Every AutoGen model client: ``create`` / ``create_stream`` of each ``ChatCompletionClient`` subclass.

``ChatCompletionClient`` (``autogen_core.models``) is an abstract base; each client (OpenAI, Azure, Anthropic,
Ollama, llama.cpp, Azure AI, Semantic Kernel, the cache, the replay client, a user's own class) defines its own
``create`` / ``create_stream``, and nothing in AutoGen funnels every model call through one method. So the
plugin patches those two methods on every subclass that defines them:

- the subclasses that exist when ``autogen_core.models._model_client`` is patched (instrumenting after the
  clients were imported), found through ``__subclasses__()``;
- every subclass defined later, at its definition: ``ChatCompletionClient.__init_subclass__`` is wrapped, and
  the new class's own methods are patched before ``class`` returns. The wrapper continues the MRO's
  ``__init_subclass__`` chain (``super()``), as the class without our wrapper does.

Patches go through the instrumentor's own machinery, so uninstrumenting restores each class. A subclass that
calls ``super().create()`` (or a client wrapping another, like ``ChatCompletionCache``) gives one span: the
outer call owns the LLM span and the inner one adds its attributes to it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

from agentlightning.instrumentation import Switch, guard

MODEL_CLIENT_MODULE = "autogen_core.models._model_client"
METHODS = ("create", "create_stream")

_SITE = guard("autogen.client_subclass")

PatchClass = Callable[[type, str, Callable[[Switch], Any]], None]


def _subclasses(base: type) -> Iterator[type]:
    seen: set[int] = set()
    pending: list[type] = list(base.__subclasses__())
    while pending:
        cls = pending.pop()
        if id(cls) in seen:
            continue
        seen.add(id(cls))
        yield cls
        pending.extend(cls.__subclasses__())


def _patch_methods(cls: type, factories: dict[str, Callable[[Switch], Any]], patch_class: PatchClass) -> None:
    for attribute, factory in factories.items():
        original = vars(cls).get(attribute)
        if original is None or getattr(original, "__isabstractmethod__", False):
            continue  # inherited (the defining class is patched) or still abstract
        patch_class(cls, attribute, factory)


def subclass_hook(factories: dict[str, Callable[[Switch], Any]], patch_class: PatchClass) -> Callable[[Switch], Any]:
    """The Patch factory of ``ChatCompletionClient.__init_subclass__`` (see the module docstring)."""

    def factory(switch: Switch) -> Any:
        base: type = vars(sys.modules[MODEL_CLIENT_MODULE])["ChatCompletionClient"]
        owns_hook = "__init_subclass__" in vars(base)  # 0.7.5: no, it is Generic's (checked before patching)
        with _SITE:
            for cls in list(_subclasses(base)):
                _patch_methods(cls, factories, patch_class)

        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if owns_hook:
                wrapped(*args, **kwargs)
            else:  # what Python calls when ChatCompletionClient has no hook of its own: the rest of the MRO
                super(base, instance).__init_subclass__(*args, **kwargs)  # type: ignore[arg-type]
            if switch.on and isinstance(instance, type):
                with _SITE:
                    _patch_methods(instance, factories, patch_class)

        return wrapper

    return factory
