"""The per-key token bucket: a minute's requests at once, then the per-minute rate."""

from __future__ import annotations

from tagloop.shells.limits import KeyConcurrencyLimiter, KeyRateLimiter


def test_a_burst_then_the_rate_per_key() -> None:
    now = [0.0]
    limiter = KeyRateLimiter(per_minute=60, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(60)] == [0] * 60
    assert limiter.take("a") == 1  # one token a second: retry in 1 s
    assert limiter.take("b") == 0  # another key is not affected
    now[0] += 1.0
    assert limiter.take("a") == 0 and limiter.take("a") == 1
    now[0] += 3600.0  # a long pause refills to one minute's worth, no more
    assert [limiter.take("a") for _ in range(61)].count(0) == 60


def test_requests_in_flight_per_key() -> None:
    limiter = KeyConcurrencyLimiter(limit=2)
    assert limiter.enter("a") and limiter.enter("a")
    assert not limiter.enter("a")  # a third at once
    assert limiter.enter("b")  # another key is not affected
    limiter.leave("a")
    assert limiter.enter("a")
    for _ in range(3):
        limiter.leave("a")
    assert limiter.enter("a") and limiter.enter("a") and not limiter.enter("a")
