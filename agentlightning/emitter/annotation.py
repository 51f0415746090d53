"""``operation``: trace a step of your agent as a span, as a decorator or a context manager.

::

    @operation                         # span "agentlightning.operation", operation name = function name,
    def search(query): ...             # input = the bound arguments as JSON, output = the return value

    @operation(name="rank", stage=2)   # a name and extra attributes
    async def rank(docs): ...

    with operation("plan", step=1) as span:   # any block; spans made inside are its children
        ...

Inside a trace context the span is recorded and current while the step runs; an exception marks it
ERROR and propagates unchanged. Outside a trace context the step runs untouched and nothing is recorded:
a decorated function never fails because no tracer is active.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, overload

from agentlightning import semconv
from agentlightning.tracer.base import get_active_tracer

from ._common import to_json

__all__ = ["operation"]

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def _operation_span(name: str, attributes: dict[str, Any], inputs: Callable[[], Any] | None) -> Iterator[Any]:
    tracer = get_active_tracer()
    if tracer is None:
        yield None
        return
    attrs = {**attributes, semconv.AGL_OPERATION_NAME: name}
    if inputs is not None:
        attrs[semconv.AGL_OPERATION_INPUT] = to_json(inputs())
    with tracer.operation_context(semconv.AGL_OPERATION, attrs) as span:
        yield span


class _Operation:
    """The object ``operation(...)`` returns when not given a function: a decorator and a context manager."""

    def __init__(self, name: str | None, attributes: dict[str, Any]) -> None:
        self.name = name
        self.attributes = attributes
        # The blocks this object has open, per thread/task: one object (``step = operation("step")``) may be
        # entered by several tasks at once, and nested in itself.
        self._open: ContextVar[tuple[Any, ...]] = ContextVar(f"agentlightning_operation_{id(self)}", default=())

    def __call__(self, func: F) -> F:
        return _decorate(func, self.name or func.__name__, self.attributes)

    def __enter__(self) -> Any:
        cm = _operation_span(self.name or "operation", self.attributes, None)
        span = cm.__enter__()
        self._open.set((*self._open.get(), cm))
        return span

    def __exit__(self, *exc: Any) -> Any:
        *rest, cm = self._open.get()
        self._open.set(tuple(rest))
        return cm.__exit__(*exc)


def _decorate(func: F, name: str, attributes: dict[str, Any]) -> F:
    signature = inspect.signature(func)

    def bound(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[[], Any]:
        def inputs() -> Any:
            try:
                b = signature.bind(*args, **kwargs)
            except TypeError:
                return {"args": list(args), "kwargs": kwargs}
            b.apply_defaults()
            return dict(b.arguments)

        return inputs

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            if get_active_tracer() is None:
                return await func(*args, **kwargs)
            with _operation_span(name, attributes, bound(args, kwargs)) as span:
                result = await func(*args, **kwargs)
                span.set_attribute(semconv.AGL_OPERATION_OUTPUT, to_json(result))
                return result

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if get_active_tracer() is None:
            return func(*args, **kwargs)
        with _operation_span(name, attributes, bound(args, kwargs)) as span:
            result = func(*args, **kwargs)
            span.set_attribute(semconv.AGL_OPERATION_OUTPUT, to_json(result))
            return result

    return wrapper  # type: ignore[return-value]


@overload
def operation(func: F, /) -> F: ...
@overload
def operation(name: str | None = None, /, **attributes: Any) -> _Operation: ...
def operation(func_or_name: Any = None, /, **attributes: Any) -> Any:
    """Trace a function (``@operation``, ``@operation(name=..., **attrs)``) or a block (``with operation("x")``)."""
    if callable(func_or_name):
        return _decorate(func_or_name, func_or_name.__name__, attributes)
    name = attributes.pop("name", None) if func_or_name is None else func_or_name
    return _Operation(name, attributes)
