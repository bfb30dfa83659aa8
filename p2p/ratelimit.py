"""A token bucket: `rate` tokens per second, at most `burst` saved up."""

from __future__ import annotations


class TokenBucket:
    """Allows bursts of `burst` events, then `rate` events per second on average."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at: float | None = None

    def take(self, now: float, count: int = 1) -> bool:
        """Spend `count` tokens at time `now` (monotonic seconds); False (and nothing spent)
        when fewer are left."""
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < count:
            return False
        self._tokens -= count
        return True
