"""Tortoise's SQLite client, plus a way to run one statement on its connection right away, on
the event loop's thread, when nothing else is using the connection (`store.statements` uses
it for the statements of every chat turn; the ORM's own statements outside transactions run
that way too). Named as the Tortoise engine of SQLite URLs by `store.db.tortoise_config`.

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
- It never waits for SQLite's lock on the loop: statements in place run with a busy timeout
  of 0, and a database busy in another process sends the statement the normal way, which
  waits off the loop. The timeout is switched only when the other kind of statement comes
  next (taking the client's lock switches it back to BUSY_TIMEOUT_MS): a turn's statements
  never pay for the switch (two PRAGMAs around every write cost ~4 % of a turn).
- Writes that belong together (`execute_together_in_place`) run in one transaction, in
  place: one commit instead of one per statement (~55 µs each).
- It never checkpoints on the loop: automatic checkpoints are off, and a PASSIVE checkpoint
  runs on a low-priority thread and a connection of its own every CHECKPOINT_EVERY_S seconds
  and after every CHECKPOINT_EVERY writes made here.
- Errors are Tortoise's (`IntegrityError`, `OperationalError`), as through the client.
May import: tortoise, aiosqlite and the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import sys
import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiosqlite
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import IntegrityError, OperationalError

log = logging.getLogger("chat_platform.store")

BUSY_TIMEOUT_MS = 5000  # the normal path's wait for another process's write (sqlite3's default)
# Writes between checkpoints: a turn writes ~5 frames of 4 KB, so 200 writes leave ~4 MB of
# WAL to copy and sync. At 1,000 (~20 MB) each checkpoint's sync of the WAL held up the turns
# in flight for ~5 ms: C=10 p99 17–24 ms against 10–15 (bench/PERF-LOG.md, step 12).
CHECKPOINT_EVERY = 200
CHECKPOINT_EVERY_S = 5.0
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


@functools.lru_cache(maxsize=256)
def _row_dicts(names: tuple[str, ...]) -> Callable[[list[tuple[Any, ...]]], list[dict[str, Any]]]:
    """Rows → dicts keyed by `names`, as one generated comprehension with literal keys (the
    way namedtuple and dataclasses build their code): a turn's 40-row history in ~2 µs, where
    `dict(zip(names, row))` per row took ~13 µs. Names are column names, written as repr()."""
    if not names:
        return lambda rows: [{} for _ in rows]
    variables = [f"_{i}" for i in range(len(names))]
    keys = ", ".join(f"{name!r}: {var}" for name, var in zip(names, variables, strict=True))
    unpack = "".join(f"{var}," for var in variables)
    return eval(f"lambda rows: [{{{keys}}} for {unpack} in rows]")


def _null(value: None) -> None:
    return value


# sqlite3 binds int, float and str directly but "adapts" None: with no adapter registered it
# looks up `__adapt__` on its protocol type, which formats an AttributeError and drops it
# (~0.16 µs per NULL; a turn binds ~40). A registered adapter is found at once.
sqlite3.register_adapter(type(None), _null)


def _lowest_priority() -> None:
    """This thread at nice 19 (Linux: a thread's own priority; elsewhere it is left alone,
    as setpriority would renice the whole process)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class _Lock(asyncio.Lock):
    """The client's lock. Whoever takes it runs statements the normal way, on aiosqlite's
    thread where waiting for another process is fine: with the normal busy timeout."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self._client = client

    async def acquire(self) -> bool:
        await super().acquire()
        self._client._busy_timeout(BUSY_TIMEOUT_MS)  # we hold the lock: the connection is ours
        return True


class Client(SqliteClient):
    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        self._lock = _Lock(self)
        self._busy_ms = BUSY_TIMEOUT_MS  # sqlite3.connect's default

    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        self._busy_ms = BUSY_TIMEOUT_MS
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
        # One thread, so checkpoints never overlap; at the lowest priority, so under load it
        # takes CPU time nothing else wants (at normal priority each checkpoint, 15–25 ms of
        # copying and syncing, delayed every turn in flight: bench/PERF-LOG.md, step 12).
        self._checkpointer = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sqlite-checkpoint", initializer=_lowest_priority
        )
        if ":memory:" not in self.filename:  # an in-memory database has no WAL to checkpoint
            self._checkpoint_soon(CHECKPOINT_EVERY_S)

    async def close(self) -> None:
        for task in list(getattr(self, "_checkpoints", ())):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        checkpointer = getattr(self, "_checkpointer", None)
        if checkpointer is not None:
            checkpointer.shutdown(wait=False, cancel_futures=True)
        await super().close()

    def _checkpoint_now(self) -> None:
        """A PASSIVE checkpoint on the checkpoint thread, on a short-lived connection of its
        own: it copies what it can without taking (or waiting for) the client's lock, so turns
        go on meanwhile (through the client's connection it held them all up for ~100 ms)."""
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
            names = tuple(column[0] for column in cursor.description)
            return _row_dicts(names)(cursor.fetchall())
        return await self.execute_query_dict(sql, values)

    # Tortoise's own statements (the ORM's, outside transactions) also run in place while the
    # lock is free; otherwise, or when busy elsewhere, the normal way. Through aiosqlite each
    # held the lock across a thread hop and a loop pass: a burst of them (fifty chats opening
    # at once) held up every turn's in-place statements behind it (bench/PERF-LOG.md, step 11).

    def _orm_now(self, query: str, values: list | None) -> sqlite3.Cursor | None:
        """An ORM statement run right now, or None: the lock is held, or busy elsewhere."""
        if self._lock.locked():
            return None
        return self._cursor_now(query.replace("\x00", "'||CHAR(0)||'"), values or [])

    async def execute_insert(self, query: str, values: list) -> int:
        cursor = self._orm_now(query, values)
        if cursor is None:
            return await super().execute_insert(query, values)
        self._wrote(1)
        return cursor.lastrowid or 0

    async def execute_query(self, query: str, values: list | None = None) -> tuple[int, Any]:
        before = self._connection._conn.total_changes if self._connection is not None else 0
        cursor = self._orm_now(query, values)
        if cursor is None:
            return await super().execute_query(query, values)
        rows = cursor.fetchall()
        changed = cursor.connection.total_changes - before
        if changed:
            self._wrote(1)
        return changed or len(rows), rows

    async def execute_query_dict(self, query: str, values: list | None = None) -> list[dict]:
        cursor = self._orm_now(query, values)
        if cursor is None:
            return await super().execute_query_dict(query, values)
        return list(map(dict, cursor.fetchall()))  # reads (writes are counted above)

    async def execute_in_place(self, sql: str, values: list[Any]) -> int:
        """Rows changed by a write."""
        if self._lock.locked():
            await self._wait_free()
        cursor = self._cursor_now(sql, values)
        if cursor is not None:
            self._wrote(1)
            return cursor.rowcount
        # Busy elsewhere (or not connected yet): wait on aiosqlite's thread.
        return (await self.execute_query(sql, values))[0]

    async def execute_together_in_place(self, writes: list[tuple[str, list[Any]]]) -> bool:
        """Writes in one transaction, in place: all or none. False when that cannot start
        without waiting (busy elsewhere, not connected): the caller then opens a transaction
        the normal way."""
        if self._lock.locked():
            await self._wait_free()
        if self._connection is None:
            return False
        conn: sqlite3.Connection = self._connection._conn
        if self._cursor_now("BEGIN IMMEDIATE", []) is None:
            return False
        try:
            for sql, values in writes:
                conn.execute(sql, values)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.IntegrityError):
                raise IntegrityError(exc) from None
            if isinstance(exc, sqlite3.OperationalError):
                raise OperationalError(exc) from None
            raise
        self._wrote(len(writes))
        return True

    async def _wait_free(self) -> None:
        """Until no statement of the client is in flight (a lock holder may be on aiosqlite's
        thread, or a transaction open). Waiting in the lock's queue and releasing it at once:
        the caller then runs its statement synchronously, before anything else can start."""
        async with self._lock:
            pass

    def _busy_timeout(self, ms: int) -> None:
        """Set SQLite's busy timeout, if it is not already: only by the lock's holder, or in
        place while the lock is free (nothing is on aiosqlite's thread either way)."""
        if self._busy_ms != ms and self._connection is not None:
            self._connection._conn.execute(f"PRAGMA busy_timeout={ms}")
            self._busy_ms = ms

    def _wrote(self, count: int) -> None:
        self._writes_here += count
        if self._writes_here >= CHECKPOINT_EVERY and ":memory:" not in self.filename:
            self._writes_here = 0
            self._checkpoint_soon(0)

    def _cursor_now(self, sql: str, values: list[Any]) -> sqlite3.Cursor | None:
        """The statement run right now, or None when it cannot run without waiting. The caller
        checked the client's lock is free: nothing else is using the connection, no
        transaction is open. A busy timeout of 0 means another process's lock never holds the
        loop."""
        if self._connection is None:  # not connected yet: the normal path connects
            return None
        self._busy_timeout(0)
        try:
            return self._connection._conn.execute(sql, values)
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
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._checkpointer, self._checkpoint_now)
            except Exception:  # the next one will do
                log.warning("WAL checkpoint failed", exc_info=True)
            if delay_s:  # the periodic one schedules its successor
                self._checkpoint_soon(delay_s)

        task = asyncio.get_running_loop().create_task(checkpoint())
        self._checkpoints.add(task)
        task.add_done_callback(self._checkpoints.discard)


client_class = Client
