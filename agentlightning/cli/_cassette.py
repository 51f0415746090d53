"""``--record PATH`` / ``--replay PATH``: one vcrpy cassette for the whole run's HTTP traffic.

Both go through :func:`open_run_cassette`, the only place that knows how agentlightning.testing opens a
cassette. Requests are matched on method, scheme, path, query and body, so concurrent calls replay in any
order; credentials are filtered before anything is written (see ``agentlightning.testing.cassettes``).

On replay, a request the cassette does not hold is remembered (method and URL) so the command can name it
when the script ends, whatever the script made of the error its HTTP client raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._errors import UsageError

__all__ = ["check_cassette", "open_run_cassette"]


def check_cassette(path: str, *, record: bool) -> None:
    """Reject, before anything runs, a cassette that cannot be replayed or a place it cannot be recorded to."""
    file = Path(path)
    if record:
        if file.is_dir():
            raise UsageError(f"--record {path}: that is a directory; give the cassette's file name (e.g. run.yaml)")
        return
    if not file.is_file():
        raise UsageError(f"--replay {path}: no such cassette; record it first with --record {path}")
    from agentlightning.testing.cassettes import PrettyJSONYAMLSerializer

    try:
        data = PrettyJSONYAMLSerializer.deserialize(file.read_text(encoding="utf-8"))
        interactions = data.get("interactions")
        if not isinstance(interactions, list) or not all(
            isinstance(i, dict) and "request" in i and "response" in i for i in interactions
        ):
            raise ValueError("it has no list of recorded interactions")
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(
            f"--replay {path}: the cassette does not parse ({reason}); re-record it with --record {path}"
        ) from None


@contextmanager
def open_run_cassette(path: str, *, record: bool, misses: list[str]) -> Iterator[Any]:
    """Record (overwriting) or replay ``path`` around the block; unmatched replay requests go to ``misses``."""
    from agentlightning.testing.cassettes import MATCH_ON, use_cassette

    if record:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    manager = use_cassette(path, record_mode="all" if record else "none", match_on=(*MATCH_ON, "body"))
    with manager as cassette:
        if not record:
            can_play = cassette.can_play_response_for

            def checked(request: Any) -> bool:  # vcrpy asks this before answering each request
                found = bool(can_play(request))
                if not found:
                    misses.append(f"{request.method} {request.uri}")
                return found

            cassette.can_play_response_for = checked
        yield cassette
