"""``Heartbeat``: a thread that tells the store, every few seconds, that the attempts being run are alive.

The store marks an attempt ``unresponsive`` when it hears nothing from it for ``config.unresponsive_seconds``
(a span or ``update_attempt(last_heartbeat_time=...)``). An agent may legitimately stay silent for minutes
(a long model call, a sync agent blocking the event loop), so the runner cannot rely on spans, nor on a
task of its event loop: this thread beats for every registered attempt, whatever the agent's own thread is
doing. When the process dies (``kill -9``), the beats stop, and the store finds the attempt unresponsive
and retries or fails the rollout as its config says.

One thread serves every runner of a process's run; it wakes every ``interval`` seconds, or more often when a
registered attempt's ``unresponsive_seconds`` asks for it (a quarter of it), and writes nothing when no
attempt is registered. A beat that fails (the store closed, the attempt gone) is logged at debug level and
never reaches the agent.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentlightning.store.base import LightningStore

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_HEARTBEAT_INTERVAL", "Heartbeat"]

#: Seconds between beats when no attempt asks for more.
DEFAULT_HEARTBEAT_INTERVAL = 10.0


class Heartbeat:
    """Beats ``update_attempt(last_heartbeat_time=now)`` for the registered attempts, from its own thread."""

    def __init__(self, store: LightningStore, interval: float = DEFAULT_HEARTBEAT_INTERVAL) -> None:
        self.store = store
        self.interval = interval
        self._lock = threading.Lock()
        self._attempts: dict[tuple[str, str], float] = {}  # (rollout_id, attempt_id) -> seconds between beats
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, rollout_id: str, attempt_id: str, unresponsive_seconds: float | None) -> None:
        """Beat for this attempt until :meth:`remove`; starts the thread on first use."""
        every = self.interval if unresponsive_seconds is None else min(self.interval, unresponsive_seconds / 4)
        with self._lock:
            self._attempts[(rollout_id, attempt_id)] = every
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._loop, name="agentlightning-heartbeat", daemon=True)
                self._thread.start()
            elif every < self.interval:
                self._wake.set()  # re-plan the next beat sooner

    def remove(self, rollout_id: str, attempt_id: str) -> None:
        with self._lock:
            self._attempts.pop((rollout_id, attempt_id), None)

    def stop(self) -> None:
        """Stop beating and wait for the thread (a beat in progress finishes first)."""
        self._stopped.set()
        self._wake.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _loop(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while not self._stopped.is_set():
                with self._lock:
                    tick = min(self._attempts.values(), default=self.interval)
                self._wake.wait(tick)
                self._wake.clear()
                if self._stopped.is_set():
                    break
                with self._lock:
                    attempts = list(self._attempts)
                for rollout_id, attempt_id in attempts:
                    try:
                        loop.run_until_complete(
                            self.store.update_attempt(rollout_id, attempt_id, last_heartbeat_time=time.time())
                        )
                    except Exception as exc:
                        logger.debug("heartbeat for %s/%s failed: %r", rollout_id, attempt_id, exc)
        finally:
            loop.close()
