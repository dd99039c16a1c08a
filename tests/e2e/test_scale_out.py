"""Scale-out proof: two `chat-platform serve` processes sharing one PostgreSQL database (fresh,
created for this test and dropped after) and one Redis. A chat socket is open on process A; the
turn is started through the HTTP API on process B; A's socket sees every event of the turn —
message.created for both messages, run:start … text deltas … run:complete — in order, with
strictly increasing seq and nothing missing. Skipped unless both CHAT_PLATFORM_TEST_DATABASE_URL
and CHAT_PLATFORM_TEST_REDIS_URL are set."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.conftest import PG_URL, REDIS_URL, LiveServer, run_in_thread, start_server, stop_server
from tests.e2e.test_ws_live import (
    authed,
    open_session,
    published_workflow,
    recv,
    socket,
)
from tests.workflows import echo_graph

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(
        not (PG_URL and REDIS_URL),
        reason="needs CHAT_PLATFORM_TEST_DATABASE_URL and CHAT_PLATFORM_TEST_REDIS_URL",
    ),
]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def _admin(sql: str) -> None:
    import asyncpg

    assert PG_URL
    conn = await asyncpg.connect(
        _with_database(PG_URL, "postgres").replace("postgres://", "postgresql://", 1)
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    assert PG_URL and REDIS_URL
    name = f"cp_scaleout_{secrets.token_hex(4)}"
    run_in_thread(lambda: _admin(f'CREATE DATABASE "{name}"'))
    env = {
        "CHAT_PLATFORM_DATABASE_URL": _with_database(PG_URL, name),
        "CHAT_PLATFORM_REDIS_URL": REDIS_URL,
        "CHAT_PLATFORM_SECRET_KEY": secrets.token_urlsafe(32),
    }
    servers: list[LiveServer] = []
    try:
        # A migrates the fresh database first; B finds it migrated.
        servers.append(start_server(Path(tmp_path_factory.mktemp("node_a")), env))
        servers.append(start_server(Path(tmp_path_factory.mktemp("node_b")), env))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            stop_server(server)
        run_in_thread(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_turn_started_on_b_streams_to_a_socket(
    cluster: tuple[LiveServer, LiveServer],
) -> None:
    node_a, node_b = cluster
    workflow_id = published_workflow(node_b)
    async with socket(node_a) as ws:
        await authed(ws, node_a)
        ready = await open_session(ws, workflow_id=workflow_id)
        session_id = ready["session"]["id"]
        words = [f"w{i}" for i in range(40)]
        async with httpx.AsyncClient(base_url=node_b.base_url, timeout=30) as http:
            r = await http.post(
                "/api/v1/run",
                headers={"Authorization": f"Bearer {node_b.admin_key}"},
                json={
                    "workflow_id": workflow_id,
                    "session_id": session_id,
                    "input": [{"role": "user", "content": " ".join(words)}],
                },
            )
        assert r.status_code == 200, r.text
        run = r.json()
        frames = []
        while True:
            frame = await recv(ws, wait_s=20)
            frames.append(frame)
            if frame["type"] == "run:result":
                break
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(ready["seq"] + 1, ready["seq"] + 1 + len(frames))), seqs
    types = [f["type"] for f in frames]
    assert types[0] == "message.created" and frames[0]["message"]["role"] == "user"
    assert "run:start" in types and "run:complete" in types
    assert types.index("run:start") < types.index("run:complete") < types.index("run:result")
    deltas = "".join(f["delta"] for f in frames if f["type"] == "node:text-delta")
    assert deltas.split() == words
    assert all(f.get("runId", run["id"]) == run["id"] for f in frames if ":" in f["type"])
    answer = [f for f in frames if f["type"] == "message.created"][-1]
    assert answer["message"]["role"] == "assistant"
    assert answer["message"]["content"] == run["output"]
    assert frames[-1]["status"] == "completed" and frames[-1]["id"] == run["id"]

    # and the other way round: a socket on B sees a turn sent over a socket on A
    async with socket(node_b) as ws_b, socket(node_a) as ws_a:
        await authed(ws_b, node_b)
        await authed(ws_a, node_a)
        ready_b = await open_session(ws_b, session_id=session_id)
        await open_session(ws_a, session_id=session_id)
        await ws_a.send(
            json.dumps(
                {"type": "message.send", "content": "again please", "client_message_id": "c-2"}
            )
        )
        seen = []
        while not seen or seen[-1]["type"] != "run:result":
            seen.append(await recv(ws_b, wait_s=20))
        assert [f["seq"] for f in seen] == list(
            range(ready_b["seq"] + 1, ready_b["seq"] + 1 + len(seen))
        )
        assert seen[0]["type"] == "message.created" and seen[0]["client_message_id"] == "c-2"
    await asyncio.sleep(0)


async def test_a_turn_running_on_a_is_cancelled_through_b(
    cluster: tuple[LiveServer, LiveServer],
) -> None:
    node_a, node_b = cluster
    workflow_id = published_workflow(node_b, echo_graph(delay_ms=200))
    async with socket(node_a) as ws:
        await authed(ws, node_a)
        await open_session(ws, workflow_id=workflow_id)
        await ws.send(json.dumps({"type": "message.send", "content": " ".join(["w"] * 50)}))
        frame = await recv(ws, wait_s=20)
        while frame["type"] != "node:text-delta":
            frame = await recv(ws, wait_s=20)
        run_id = frame["runId"]
        async with httpx.AsyncClient(base_url=node_b.base_url, timeout=30) as http:
            r = await http.post(
                f"/api/v1/runs/{run_id}/cancel",
                headers={"Authorization": f"Bearer {node_b.admin_key}"},
            )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        while frame["type"] != "run:complete":
            frame = await recv(ws, wait_s=20)
    assert frame["status"] == "cancelled"
