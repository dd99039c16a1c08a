"""Fixed-window rate limiters: in-process by default, Redis when configured.

`hit(key, limit, window_s)` counts one request and answers whether it is allowed, how many
remain, and the Unix time the window resets. The Redis one shares a budget between processes.
May import: redis and the standard library.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # Unix seconds

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_at - int(time.time()))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_s: int = 60) -> RateDecision: ...


class MemoryRateLimiter:
    """One process's counters; old windows are dropped as new ones start."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._window: int = -1

    async def hit(self, key: str, limit: int, window_s: int = 60) -> RateDecision:
        window = int(time.time()) // window_s
        if window != self._window:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            self._window = window
        count = self._counts.get((key, window), 0) + 1
        self._counts[(key, window)] = count
        reset_at = (window + 1) * window_s
        return RateDecision(count <= limit, limit, max(0, limit - count), reset_at)


class RedisRateLimiter:
    def __init__(self, redis: Any, prefix: str = "cp:rl:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(self, key: str, limit: int, window_s: int = 60) -> RateDecision:
        window = int(time.time()) // window_s
        rkey = f"{self._prefix}{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(rkey)
            pipe.expire(rkey, window_s + 5)
            count, _ = await pipe.execute()
        reset_at = (window + 1) * window_s
        return RateDecision(count <= limit, limit, max(0, limit - count), reset_at)
