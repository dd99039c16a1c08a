"""Per-key, per-minute rate limits: headers on every response, 429 RATE_LIMITED with
Retry-After once spent; the Redis limiter shares one budget between processes."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from chat_platform.app import create_app
from chat_platform.bus.ratelimit import MemoryRateLimiter, RedisRateLimiter
from chat_platform.config import Settings
from tests.conftest import make_key

REDIS_URL = os.environ.get("CHAT_PLATFORM_TEST_REDIS_URL")


@pytest.fixture
async def limited_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(dataclasses.replace(settings, rate_limit_per_minute=3))
    async with app.router.lifespan_context(app):
        key = await make_key("viewer")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers={"Authorization": f"Bearer {key}"}
        ) as c:
            yield c


async def test_headers_then_429_with_retry_after(limited_api: httpx.AsyncClient) -> None:
    remaining = []
    for _ in range(3):
        r = await limited_api.get("/api/v1/projects")
        assert r.status_code == 200
        assert r.headers["x-ratelimit-limit"] == "3"
        assert int(r.headers["x-ratelimit-reset"]) > time.time()
        remaining.append(int(r.headers["x-ratelimit-remaining"]))
    assert remaining == [2, 1, 0]
    r = await limited_api.get("/api/v1/projects")
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["x-ratelimit-remaining"] == "0"


async def test_memory_limiter_counts_keys_separately() -> None:
    limiter = MemoryRateLimiter()
    assert (await limiter.hit("a", 1)).allowed
    assert not (await limiter.hit("a", 1)).allowed
    assert (await limiter.hit("b", 1)).allowed


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="CHAT_PLATFORM_TEST_REDIS_URL not set")
async def test_redis_limiter_shares_one_budget_between_clients() -> None:
    import redis.asyncio as aioredis

    a, b = aioredis.from_url(REDIS_URL), aioredis.from_url(REDIS_URL)
    try:
        key = f"test:{uuid.uuid4().hex}"
        first = RedisRateLimiter(a)
        second = RedisRateLimiter(b)  # as if in another process
        decisions = [await first.hit(key, 3), await second.hit(key, 3), await first.hit(key, 3)]
        assert [d.remaining for d in decisions] == [2, 1, 0]
        assert not (await second.hit(key, 3)).allowed
    finally:
        await a.aclose()
        await b.aclose()
