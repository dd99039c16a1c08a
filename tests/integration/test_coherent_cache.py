"""`store.cache.CoherentCache` on a real database: an entry is reused until someone else
commits (SQLite's data_version, seen through a second connection as another process would
write) or this process moves the generation; a failed load caches nothing."""

from __future__ import annotations

import sqlite3

import pytest

from chat_platform.errors import NotFound
from chat_platform.store.cache import CoherentCache
from tests.conftest import PG_URL


@pytest.fixture
def loads() -> list[str]:
    return []


async def test_reused_until_another_connection_commits(app, settings, loads: list[str]) -> None:
    if PG_URL:
        pytest.skip("SQLite's data_version; PostgreSQL entries expire by time")
    cache: CoherentCache[str, str] = CoherentCache(10)

    async def load() -> str:
        loads.append("x")
        return f"value {len(loads)}"

    assert await cache.get("k", load) == "value 1"
    assert await cache.get("k", load) == "value 1"  # no load, no other writer
    path = settings.database_url.removeprefix("sqlite://").split("?")[0]
    with sqlite3.connect(path) as other:  # what the CLI or a second worker would do
        other.execute("CREATE TABLE probe (x)")
        other.execute("INSERT INTO probe VALUES (1)")
    assert await cache.get("k", load) == "value 2"
    assert await cache.get("k", load) == "value 2"


async def test_a_local_write_moves_the_generation_and_failures_are_not_cached(app) -> None:
    generation = [0]
    cache: CoherentCache[str, int] = CoherentCache(10, lambda: generation[0])
    calls = []

    async def load() -> int:
        calls.append(1)
        return len(calls)

    assert await cache.get("k", load) == 1
    assert await cache.get("k", load) == 1
    generation[0] += 1
    assert await cache.get("k", load) == 2

    async def missing() -> int:
        raise NotFound("nope")

    for _ in range(2):
        with pytest.raises(NotFound):
            await cache.get("gone", missing)

    async def racing() -> int:  # a local write lands while the row is being read
        generation[0] += 1
        return 99

    assert await cache.get("r", racing) == 99
    assert await cache.get("r", load) == 3  # the raced value was not kept
