"""Bounded, thread-safe caches with an owner: the :class:`~tagloop.workspace.context.Workspace`
creates them, so they live as long as the service that uses them (no module-level state).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``size`` entries; the least recently used goes first. Safe across threads."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a cache holds at least one entry")
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def pop(self, key: K) -> V | None:
        with self._lock:
            return self._entries.pop(key, None)

    def keys(self) -> list[K]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class Memo(Generic[K, V]):
    """An :class:`LruCache` whose misses are computed once: a request for a key being computed
    waits for that computation and reuses its value. A computation that raises stores nothing
    and leaves no lock behind, so the next request computes again."""

    def __init__(self, size: int) -> None:
        self.cache: LruCache[K, V] = LruCache(size)
        self._lock = threading.Lock()
        self._running: dict[K, tuple[threading.Lock, int]] = {}  # key -> (lock, waiters)

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        with self._lock:
            lock, waiters = self._running.get(key, (threading.Lock(), 0))
            self._running[key] = (lock, waiters + 1)
        try:
            with lock:
                hit = self.cache.get(key)
                if hit is not None:
                    return hit
                value = compute()
                self.cache.put(key, value)
                return value
        finally:
            with self._lock:
                lock, waiters = self._running[key]
                if waiters == 1:
                    del self._running[key]
                else:
                    self._running[key] = (lock, waiters - 1)

    def n_running(self) -> int:
        """Keys with a computation running or waited for (0 when idle)."""
        with self._lock:
            return len(self._running)
