"""`store.statements` run in place by `store.sqlite_engine` on a real SQLite file: rows read
back through the ORM exactly as the ORM writes them; a database locked by another process
makes them wait off the loop, never on it; inside a transaction they join it; and this
process's writes, in place or not, leave the coherent caches' stamp alone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from chat_platform.ids import new_id
from chat_platform.store import sqlite_engine, statements
from chat_platform.store.cache import cache_stamp
from chat_platform.store.models import Message, Run, Session
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="running in place is SQLite's")


@pytest.fixture
def db_path(settings) -> str:
    """The test database's file, for a second connection acting as another process."""
    return settings.database_url.removeprefix("sqlite://").split("?")[0]


@contextlib.contextmanager
def write_lock_elsewhere(path: str) -> Iterator[None]:
    """SQLite's write lock held by another connection, as another process would, until the
    block ends."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("COMMIT")
        other.close()


async def _session(api: httpx.AsyncClient) -> str:
    pid = (await api.post("/api/v1/projects", json={})).json()["id"]
    wid = (await api.post("/api/v1/workflows", json={"projectId": pid})).json()["id"]
    return (await api.post("/api/v1/sessions", json={"workflow_id": wid})).json()["id"]


async def test_rows_written_in_place_read_back_like_orm_rows(api: httpx.AsyncClient) -> None:
    assert isinstance(Session._meta.db, sqlite_engine.Client)  # the app runs ours
    session_id = await _session(api)
    stamp = datetime(2026, 11, 23, 12, 30, 15, 123456, tzinfo=UTC)
    fields = {"session_id": session_id, "role": "user", "content": "héllo ☃", "run_id": None}
    await statements.insert(Message, id="msg_in_place", created_at=stamp, **fields)
    await Message.create(id="msg_orm", created_at=stamp, **fields)
    fast, orm = await Message.get(id="msg_in_place"), await Message.get(id="msg_orm")
    for field in ("role", "content", "type", "status", "created_at", "feedback"):
        assert getattr(fast, field) == getattr(orm, field), field
    assert fast.created_at == stamp and fast.status == "complete" and fast.type == "text"
    # the stored text too, whole seconds included (isoformat leaves out a zero fraction)
    whole = stamp.replace(second=16, microsecond=0)
    await statements.insert(Message, id="msg_in_place_2", created_at=whole, **fields)
    await Message.create(id="msg_orm_2", created_at=whole, **fields)
    conn = Session._meta.db._connection._conn
    texts = dict(conn.execute("SELECT id, created_at FROM messages WHERE id LIKE 'msg_%'"))
    assert texts["msg_in_place"] == texts["msg_orm"] == "2026-11-23 12:30:15.123456+00:00"
    assert texts["msg_in_place_2"] == texts["msg_orm_2"] == "2026-11-23 12:30:16+00:00"

    assert await statements.update_by_pk(Session, session_id, title="renamed") == 1
    assert (await Session.get(id=session_id)).title == "renamed"
    rows = await statements.recent_messages(session_id, 1)
    assert rows == [{"role": "user", "content": "héllo ☃"}]
    odd = await statements.query(  # any column names, as the row dicts' keys
        Session._meta.db,
        """SELECT 1 AS "it's {a}", 'x' AS b, NULL AS b2 UNION SELECT 2, 'y', 3""",
        [],
    )
    assert odd == [{"it's {a}": 1, "b": "x", "b2": None}, {"it's {a}": 2, "b": "y", "b2": 3}]
    with pytest.raises(IntegrityError):  # the ORM's error type, as callers expect
        await statements.insert(
            Message, id="msg_in_place", session_id=session_id, role="user", content="x",
            created_at=stamp,
        )  # fmt: skip


async def test_a_turns_history_is_read_off_the_timeline_index(
    api: httpx.AsyncClient, db_path: str
) -> None:
    """No sort of all of a session's messages per turn: SQLite walks the index backwards."""
    await _session(api)  # the app has migrated the database
    with sqlite3.connect(db_path) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN " + statements.recent_messages_sql("sqlite"), ["ses_x", 50]
        ).fetchall()
    steps = [row[-1] for row in plan]
    assert any("USING INDEX idx_messages_timeline" in step for step in steps), steps
    assert not any("TEMP B-TREE" in step for step in steps), steps


async def test_a_file_locked_elsewhere_waits_off_the_loop(
    api: httpx.AsyncClient, db_path: str
) -> None:
    session_id = await _session(api)
    with write_lock_elsewhere(db_path):
        write = asyncio.create_task(
            statements.update_by_pk(Session, session_id, title="after the lock")
        )
        gaps = []
        for _ in range(5):  # the loop keeps running while the write waits (off the loop)
            t0 = time.monotonic()
            await asyncio.sleep(0.02)
            gaps.append(time.monotonic() - t0)
        # Waiting on the loop would stall it for the whole busy timeout (5 s) at once.
        assert max(gaps) < sqlite_engine.BUSY_TIMEOUT_MS / 1000 / 5 and not write.done()
    assert await write == 1
    assert (await Session.get(id=session_id)).title == "after the lock"


async def test_a_held_client_lock_is_waited_for(api: httpx.AsyncClient) -> None:
    session_id = await _session(api)
    entered, release = asyncio.Event(), asyncio.Event()

    async def long_transaction() -> None:
        async with in_transaction():  # holds the client's lock until it ends
            await Session.filter(id=session_id).update(title="in transaction")
            entered.set()
            await release.wait()

    holder = asyncio.create_task(long_transaction())
    await entered.wait()
    write = asyncio.create_task(statements.update_by_pk(Session, session_id, title="later"))
    await asyncio.sleep(0.05)
    assert not write.done()  # not run in place, into someone else's transaction
    release.set()
    await holder
    assert await write == 1
    assert (await Session.get(id=session_id)).title == "later"


async def test_a_free_lock_with_waiters_queued_is_not_waited_for(api: httpx.AsyncClient) -> None:
    """Released but not yet taken by its next waiter (who runs on a later loop pass), the lock
    is free: a statement in place runs at once, without a pass per queued waiter. Queueing
    behind the waiters turned every statement of a loaded server into a loop pass of
    waiting (a ~20 ms convoy per statement at 50 concurrent sessions)."""
    session_id = await _session(api)
    client = Session._meta.db
    await client._lock.acquire()
    waiter = asyncio.create_task(client._lock.acquire())
    await asyncio.sleep(0)  # the waiter is queued
    client._lock.release()  # its turn is scheduled, not taken yet
    assert not client._lock.locked() and not waiter.done()
    statement = statements.update_by_pk(Session, session_id, title="at once")
    with pytest.raises(StopIteration) as done:  # completed without suspending once
        statement.send(None)
    assert done.value.value == 1
    await waiter
    client._lock.release()
    assert (await Session.get(id=session_id)).title == "at once"


async def test_writes_together_commit_all_or_none(api: httpx.AsyncClient) -> None:
    session_id = await _session(api)
    stamp = datetime.now(UTC)
    fields = {"session_id": session_id, "role": "user", "content": "x", "created_at": stamp}
    await statements.write_together(
        [
            statements.insert_write(Message, id="msg_a", **fields),
            statements.update_write(Session, session_id, title="together"),
        ]
    )
    assert (await Session.get(id=session_id)).title == "together"
    with pytest.raises(IntegrityError):  # the second write fails: the first is rolled back
        await statements.write_together(
            [
                statements.update_write(Session, session_id, title="rolled back"),
                statements.insert_write(Message, id="msg_a", **fields),
            ]
        )
    assert (await Session.get(id=session_id)).title == "together"
    assert await Message.filter(session_id=session_id).count() == 1
    assert not Session._meta.db._connection._conn.in_transaction  # nothing left open


async def test_writes_together_wait_off_the_loop_for_a_lock_held_elsewhere(
    api: httpx.AsyncClient, db_path: str
) -> None:
    session_id = await _session(api)
    writes = [
        statements.update_write(Session, session_id, title="after the lock"),
        statements.update_write(Session, session_id, owner_key="owner"),
    ]
    with write_lock_elsewhere(db_path):
        together = asyncio.create_task(statements.write_together(writes))
        await asyncio.sleep(0.1)  # the loop runs meanwhile
        assert not together.done()
    await together
    row = await Session.get(id=session_id)
    assert (row.title, row.owner_key) == ("after the lock", "owner")


async def test_orm_statements_run_in_place_while_the_lock_is_free(api: httpx.AsyncClient) -> None:
    """The ORM's own statements too: each completes without suspending once (through
    aiosqlite each held the lock across a thread hop, and a burst of them — fifty chats
    opening at once — held up every turn's statements behind it)."""
    session_id = await _session(api)
    client = Session._meta.db

    def at_once(awaitable: object) -> object:
        steps = awaitable.__await__()  # type: ignore[attr-defined]
        with pytest.raises(StopIteration) as done:
            steps.send(None)
        return done.value.value

    assert at_once(Session.filter(id=session_id).update(title="in place")) == 1
    row = at_once(Session.get(id=session_id))
    assert row.title == "in place"  # type: ignore[attr-defined]
    created = at_once(Message.create(id=new_id("msg"), session_id=session_id, role="user",
                                     content="x", created_at=datetime.now(UTC)))  # fmt: skip
    assert at_once(Message.filter(session_id=session_id).count()) == 1
    assert at_once(Message.filter(session_id=session_id).values_list("id", flat=True)) == [
        created.id  # type: ignore[attr-defined]
    ]
    # with the lock held (a transaction open), an ORM statement waits its turn instead
    entered, release = asyncio.Event(), asyncio.Event()

    async def long_transaction() -> None:
        async with in_transaction():
            await Session.filter(id=session_id).update(title="in transaction")
            entered.set()
            await release.wait()

    holder = asyncio.create_task(long_transaction())
    await entered.wait()

    async def orm_update() -> int:
        return await Session.filter(id=session_id).update(title="after it")

    write = asyncio.create_task(orm_update())
    await asyncio.sleep(0.05)
    assert not write.done() and client._lock.locked()
    release.set()
    await holder
    assert await write == 1
    assert (await Session.get(id=session_id)).title == "after it"


async def test_orm_statements_after_ones_in_place_still_wait_for_another_process(
    api: httpx.AsyncClient, db_path: str
) -> None:
    """In place the busy timeout is 0; taking the client's lock puts the normal one back."""
    session_id = await _session(api)
    await statements.update_by_pk(Session, session_id, title="in place")  # timeout 0 now

    async def through_the_orm() -> int:
        return await Session.filter(id=session_id).update(title="through the ORM")

    with write_lock_elsewhere(db_path):
        orm_write = asyncio.create_task(through_the_orm())
        await asyncio.sleep(0.2)
        assert not orm_write.done()  # waiting for the lock, not failed: "database is locked"
    assert await orm_write == 1
    assert (await Session.get(id=session_id)).title == "through the ORM"


async def test_inside_a_transaction_the_statements_join_it(api: httpx.AsyncClient) -> None:
    session_id = await _session(api)
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await statements.update_by_pk(Session, session_id, title="rolled back")
            raise RuntimeError("abort")
    assert (await Session.get(id=session_id)).title != "rolled back"


async def test_this_process_writes_leave_the_cache_stamp_alone(
    api: httpx.AsyncClient, db_path: str
) -> None:
    session_id = await _session(api)
    before = await cache_stamp()
    now = datetime.now(UTC)
    run_id = new_id("run")
    wf_id = (await Session.get(id=session_id)).workflow_id
    await statements.insert(
        Run, id=run_id, workflow_id=wf_id, session_id=session_id, account_id="acc",
        status="running", workflow_version=1, started_at=now, created_at=now, updated_at=now,
    )  # fmt: skip
    await statements.update_by_pk(Run, run_id, status="completed", completed_at=now)
    await Session.filter(id=session_id).update(title="through the ORM")
    assert await cache_stamp() == before  # one connection: nothing for others to re-read
    with sqlite3.connect(db_path) as other:
        other.execute("UPDATE sessions SET title = 'elsewhere'")
    assert await cache_stamp() != before
    assert (await Run.get(id=run_id)).status == "completed"


async def test_the_wal_is_checkpointed_off_the_loop(
    api: httpx.AsyncClient, db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Automatic checkpoints are off (they would run on the loop); ours keep the WAL short."""
    monkeypatch.setattr(sqlite_engine, "CHECKPOINT_EVERY", 100)
    session_id = await _session(api)
    wal = Path(db_path + "-wal")
    stamp = datetime.now(UTC)
    await statements.insert(
        Message, id="msg_big", session_id=session_id, role="user", content="", created_at=stamp
    )
    for i in range(3000):  # 3000 commits of a few pages each: ~25 MB of WAL unchecked
        await statements.update_by_pk(Message, "msg_big", content=f"{i} " + "x" * 4000)
        if i % 50 == 0:
            await asyncio.sleep(0.005)  # let the checkpoints (on their own thread) run
    assert (await asyncio.to_thread(wal.stat)).st_size < 4 * 1024 * 1024
    if sys.platform == "linux":  # that thread yields the CPU to everything else
        threads = [t for t in threading.enumerate() if t.name.startswith("sqlite-checkpoint")]
        assert threads and all(os.getpriority(os.PRIO_PROCESS, t.native_id) == 19 for t in threads)
