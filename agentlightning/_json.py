"""The one JSON encoder for span attributes, shared by the emitters and every instrumentation plugin.

pydantic models are dumped in JSON mode, as their actual types (``serialize_as_any``), with serializer
warnings off: a model holding a value its field
type does not declare (openai's ``parse()`` results, a framework's loosely typed messages) must not print a
``PydanticSerializationUnexpectedValue`` warning on the user's stderr, nor fail the span under ``-W error``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

__all__ = ["dumps", "json_default"]


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)``: pydantic models, dataclasses, sets, tuples, bytes; anything else by ``repr``."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            # serialize_as_any: a field declared as a base class keeps its subclass's fields (autogen 0.7.0's
            # TaskResult.messages is declared as the base message types, which have no ``content``)
            return dump(mode="json", warnings=False, serialize_as_any=True)
        except TypeError:  # a model_dump that is not pydantic's (or a pydantic older than 2.7)
            return dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return repr(value)


_ENCODER = json.JSONEncoder(default=json_default, ensure_ascii=False, separators=(",", ":"))
_encode = _ENCODER.encode  # one encoder for every call: json.dumps with options builds a new one each time


def dumps(value: Any) -> str:
    """Compact JSON (``,`` and ``:`` separators, UTF-8 kept) with :func:`json_default`.

    The shared encoder keeps no state between calls (``encode`` makes its own circular-reference
    markers), so threads may use it at once.
    """
    return _encode(value)
