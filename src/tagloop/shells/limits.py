"""Per-key request rate limits for the HTTP service: a token bucket per key (refilled at the
per-minute rate, as deep as one minute's requests), so one client cannot crowd out the rest.
Requests without a key (``/health``, static files, the key form) are not counted.
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


class KeyRateLimiter:
    """``take(key)`` → 0 when the request may go on, else the seconds to wait before retrying."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.clock = clock
        # Digests, not keys, so the limiter's memory holds no secret.
        self._buckets: LruCache[str, _Bucket] = LruCache(N_TRACKED_KEYS)

    def take(self, key: str) -> int:
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = self.clock()
        bucket = self._buckets.get(digest) or _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets.put(digest, bucket)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))
