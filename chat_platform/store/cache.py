"""In-memory caches of database reads: a small LRU, and `CoherentCache`, whose entries stay
valid only while nobody else may have changed the rows they came from.

A coherent entry records `await cache_stamp()` when it was filled and is used while
`cache_stamp()` answers the same value:
- SQLite: (the connection, `PRAGMA data_version`). The data version moves only when ANOTHER
  connection committed — the CLI revoking a key, a second `--workers` process — never for this
  process's own writes (one connection), so it is a cheap (a few µs in place, no ORM) exact
  check of "did anyone else write since". This process's own writes invalidate explicitly, by
  moving the generation the caller passes in.
- other databases (several processes sharing PostgreSQL): a time bucket of REMOTE_CACHE_TTL_S,
  i.e. a change made by another process is seen within that many seconds.
May import: tortoise, the standard library and store.statements.
"""

from __future__ import annotations

import itertools
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from chat_platform.store import statements

K = TypeVar("K")
V = TypeVar("V")

REMOTE_CACHE_TTL_S = 5.0
_connection_ids: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_next_connection_id = itertools.count(1)


async def cache_stamp() -> tuple[Any, ...]:
    conn = statements.connection()
    if getattr(conn.capabilities, "dialect", "") == "sqlite":
        ident = _connection_ids.get(conn)
        if ident is None:
            ident = _connection_ids[conn] = next(_next_connection_id)
        rows = await statements.query(conn, "PRAGMA data_version", [])
        return ("sqlite", ident, rows[0]["data_version"])
    return ("ttl", int(time.monotonic() // REMOTE_CACHE_TTL_S))


class LRU(Generic[K, V]):
    """At most `size` entries; the least recently used goes first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class CoherentCache(Generic[K, V]):
    """Values loaded from the database, reused while `cache_stamp()` and the caller's
    `generation()` (moved by this process's own writes) are what they were at load time.
    A load that raises caches nothing."""

    def __init__(self, size: int, generation: Callable[[], int] = lambda: 0) -> None:
        self._lru: LRU[K, tuple[Any, int, V]] = LRU(size)
        self._generation = generation

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        stamp = await cache_stamp()  # before any read: a change after it shows as a new stamp
        generation = self._generation()
        hit = self._lru.get(key)
        if hit is not None and hit[0] == stamp and hit[1] == generation:
            return hit[2]
        value = await load()
        if self._generation() == generation:  # no local write raced the load
            self._lru.put(key, (stamp, generation, value))
        return value

    def clear(self) -> None:
        self._lru.clear()
