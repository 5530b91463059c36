"""The workspace's owned caches: bounded, thread-safe, nothing left behind by a failure."""

from __future__ import annotations

import threading
import time

import pytest

from tagloop.workspace.caches import LruCache, Memo


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.keys() == ["a", "c"] and len(cache) == 2
    assert "b" not in cache and cache.get("b") is None
    assert cache.pop("a") == 1 and cache.keys() == ["c"]


def test_a_key_is_computed_once_while_others_wait() -> None:
    memo: Memo[str, int] = Memo(4)
    calls = []
    started = threading.Event()

    def slow() -> int:
        calls.append(1)
        started.set()
        time.sleep(0.2)
        return 42

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(memo.get_or_compute("k", slow)))
        for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [42] * 5 and len(calls) == 1
    assert memo.n_running() == 0


def test_a_failed_computation_stores_nothing_and_leaves_no_lock() -> None:
    memo: Memo[str, int] = Memo(4)

    def broken() -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        memo.get_or_compute("k", broken)
    assert memo.n_running() == 0 and "k" not in memo.cache
    assert memo.get_or_compute("k", lambda: 7) == 7  # the next request computes again


def test_a_cache_needs_room_for_one_entry() -> None:
    with pytest.raises(ValueError):
        LruCache(0)
