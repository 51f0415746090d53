"""Small value classes without :mod:`dataclasses`.

``dataclasses`` imports ``inspect`` (with ``ast``, ``dis``, ``tokenize``, ...), the biggest single part of what
``instrument_all()`` at start-up would import. The few value classes on that path (``Option``, ``Patch``,
``InstrumentationConfig``) derive from :class:`Record` instead: fields are the ``__slots__``, and equality,
``repr`` and (for :class:`FrozenRecord`) hashing and immutability behave as a dataclass's do.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FrozenRecord", "Record"]


class Record:
    """Equality and ``repr`` over the fields named in ``__slots__`` (in order); mutable, unhashable."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__qualname__}({fields})"


class FrozenRecord(Record):
    """A :class:`Record` whose fields are set once, in ``__init__`` (through ``_set``); hashable."""

    __slots__ = ()

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is immutable")

    def __hash__(self) -> int:  # type: ignore[override]  # Record's is None (mutable); frozen is hashable
        return hash(self._values())
