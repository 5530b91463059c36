"""Per-key limits for the HTTP service, so one client cannot crowd out the rest: a request
rate (a token bucket per key, refilled at the per-minute rate, as deep as one minute's
requests) and a number of requests in flight at once. Requests without a key (``/health``,
static files, the key form) are not counted. Both run on the event loop (no locks needed).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from tagloop.workspace.caches import LruCache

N_TRACKED_KEYS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


def _digest(key: str) -> str:
    """Digests, not keys, so the limiters' memory holds no secret."""
    return hashlib.sha256(key.encode()).hexdigest()


class KeyConcurrencyLimiter:
    """At most ``limit`` requests of one key in flight: ``enter(key)`` is False past it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight: dict[str, int] = {}

    def enter(self, key: str) -> bool:
        digest = _digest(key)
        count = self._in_flight.get(digest, 0)
        if count >= self.limit:
            return False
        self._in_flight[digest] = count + 1
        return True

    def leave(self, key: str) -> None:
        digest = _digest(key)
        count = self._in_flight.get(digest, 0) - 1
        if count > 0:
            self._in_flight[digest] = count
        else:
            self._in_flight.pop(digest, None)


class KeyRateLimiter:
    """``take(key)`` → 0 when the request may go on, else the seconds to wait before retrying."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.clock = clock
        self._buckets: LruCache[str, _Bucket] = LruCache(N_TRACKED_KEYS)

    def take(self, key: str) -> int:
        digest = _digest(key)
        now = self.clock()
        bucket = self._buckets.get(digest) or _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets.put(digest, bucket)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))
