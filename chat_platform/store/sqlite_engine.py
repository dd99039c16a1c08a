"""Tortoise's SQLite client, plus a way to run one statement on its connection right away, on
the event loop's thread, when nothing else is using the connection (`store.statements` uses
it for the statements of every chat turn). Named as the Tortoise engine of SQLite URLs by
`store.db.tortoise_config`.

Why: through the client a statement costs ~64 µs of CPU (query plumbing, then a hop to
aiosqlite's thread and back for the result); run in place, ~9 µs (bench/PERF-LOG.md). The
statements are single-row reads and writes: microseconds, so the loop is never held long.

Why this is safe:
- One connection, as before: SQLite's `data_version` still moves only for other processes'
  commits, so `store.cache` works unchanged.
- Statements run in place only while the client's lock is free, with no await between the
  check and the statement: no statement is on aiosqlite's thread then and no transaction is
  open (both hold that lock until they end). They do not queue behind the lock's waiters
  when it is free: each waiter takes it on a later loop pass, so queueing made every
  statement of a loaded server wait a pass per waiter ahead (a convoy that never cleared).
  Inside a transaction a model resolves to the transaction's own client, which has no
  `*_in_place`: statements join the transaction.
- It never waits for SQLite's lock on the loop: writes run with a busy timeout of 0, and a
  database busy in another process sends the statement the normal way, which waits off the
  loop.
- It never checkpoints on the loop: automatic checkpoints are off, and a PASSIVE checkpoint
  runs on a worker thread and a connection of its own every CHECKPOINT_EVERY_S seconds and
  after every CHECKPOINT_EVERY writes made here.
- Errors are Tortoise's (`IntegrityError`, `OperationalError`), as through the client.
May import: tortoise, aiosqlite and the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import urllib.parse
from typing import Any

import aiosqlite
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import IntegrityError, OperationalError

log = logging.getLogger("chat_platform.store")

BUSY_TIMEOUT_MS = 5000  # the normal path's wait for another process's write (sqlite3's default)
CHECKPOINT_EVERY = 1000
CHECKPOINT_EVERY_S = 5.0
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


class Client(SqliteClient):
    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        # check_same_thread=False: the loop's thread may use the connection too, only while
        # the client's lock is free (nothing runs on aiosqlite's thread then); SQLite
        # serializes calls on a connection itself.
        self._connection = await aiosqlite.connect(
            self.filename, isolation_level=None, check_same_thread=False
        )
        self._connection._conn.row_factory = sqlite3.Row
        for pragma, value in {**self.pragmas, "wal_autocheckpoint": 0}.items():
            cursor = await self._connection.execute(f"PRAGMA {pragma}={value}")
            await cursor.close()
        await self._post_connect()
        self._writes_here = 0
        self._checkpoints: set[asyncio.Task[None]] = set()
        self._checkpointing = threading.Lock()
        if ":memory:" not in self.filename:  # an in-memory database has no WAL to checkpoint
            self._checkpoint_soon(CHECKPOINT_EVERY_S)

    async def close(self) -> None:
        for task in list(getattr(self, "_checkpoints", ())):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().close()

    def _checkpoint_now(self) -> None:
        """A PASSIVE checkpoint on a worker thread, on a short-lived connection of its own: it
        copies what it can without taking (or waiting for) the client's lock, so turns go on
        meanwhile (through the client's connection it held them all up for ~100 ms)."""
        with self._checkpointing:  # the periodic and the write-count one never overlap
            uri = f"file:{urllib.parse.quote(self.filename)}?mode=rw"  # never creates a file
            conn = sqlite3.connect(uri, uri=True, timeout=0, check_same_thread=False)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                conn.close()

    async def query_in_place(self, sql: str, values: list[Any]) -> list[dict[str, Any]]:
        """The rows of a read, as dicts."""
        if self._lock.locked():
            await self._wait_free()
        cursor = self._cursor_now(sql, values)
        if cursor is not None:
            cursor.row_factory = None  # plain tuples: a Python row factory cost ~1.5 µs/row
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return await self.execute_query_dict(sql, values)

    async def execute_in_place(self, sql: str, values: list[Any]) -> int:
        """Rows changed by a write."""
        if self._lock.locked():
            await self._wait_free()
        cursor = self._cursor_now(sql, values, busy_timeout_ms=0)
        if cursor is not None:
            self._writes_here += 1
            if self._writes_here >= CHECKPOINT_EVERY and ":memory:" not in self.filename:
                self._writes_here = 0
                self._checkpoint_soon(0)
            return cursor.rowcount
        # Busy elsewhere (or not connected yet): wait on aiosqlite's thread.
        return (await self.execute_query(sql, values))[0]

    async def _wait_free(self) -> None:
        """Until no statement of the client is in flight (a lock holder may be on aiosqlite's
        thread, or a transaction open). Waiting in the lock's queue and releasing it at once:
        the caller then runs its statement synchronously, before anything else can start."""
        async with self._lock:
            pass

    def _cursor_now(
        self, sql: str, values: list[Any], *, busy_timeout_ms: int | None = None
    ) -> sqlite3.Cursor | None:
        """The statement run right now, or None when it cannot run without waiting. The caller
        holds the client's lock: nothing else is using the connection, no transaction is open.
        A write passes `busy_timeout_ms=0` so another process's lock never holds the loop."""
        if self._connection is None:  # not connected yet: the normal path connects
            return None
        conn: sqlite3.Connection = self._connection._conn
        try:
            if busy_timeout_ms is None:
                return conn.execute(sql, values)
            conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            try:
                return conn.execute(sql, values)
            finally:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(exc) from None
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) in _BUSY:
                return None
            raise OperationalError(exc) from None

    def _checkpoint_soon(self, delay_s: float) -> None:
        async def checkpoint() -> None:
            await asyncio.sleep(delay_s)
            try:
                await asyncio.to_thread(self._checkpoint_now)
            except Exception:  # the next one will do
                log.warning("WAL checkpoint failed", exc_info=True)
            if delay_s:  # the periodic one schedules its successor
                self._checkpoint_soon(delay_s)

        task = asyncio.get_running_loop().create_task(checkpoint())
        self._checkpoints.add(task)
        task.add_done_callback(self._checkpoints.discard)


client_class = Client
