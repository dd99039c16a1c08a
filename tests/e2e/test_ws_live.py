"""The chat WebSocket against a real `chat-platform serve` process on loopback (websockets
client): a streamed turn with per-session seq, two sockets on one session, reconnect with
`resume_after_seq` (everything missed, in order, exactly once), a resend never stored twice,
a slow consumer cut off with a reason, malformed frames answered on a socket that stays open,
and a widget's Origin refused at the handshake."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import REDIS_URL, LiveServer, start_server, stop_server
from tests.workflows import echo_graph

ORIGIN = "https://shop.example.com"


@pytest.fixture(scope="module", params=["memory-bus", "redis-bus"])
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A real server with the in-process bus, and again with the Redis bus when available."""
    env: dict[str, str] = {}
    if request.param == "redis-bus":
        if not REDIS_URL:
            pytest.skip("CHAT_PLATFORM_TEST_REDIS_URL not set")
        env["CHAT_PLATFORM_REDIS_URL"] = REDIS_URL
    server = start_server(tmp_path_factory.mktemp("ws-live"), env)
    yield server
    stop_server(server)


def ws_url(server: LiveServer, query: str = "") -> str:
    return server.base_url.replace("http://", "ws://") + "/api/v1/ws" + query


def api(server: LiveServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url + "/api/v1",
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=20,
    )


def published_workflow(server: LiveServer, graph: dict[str, Any] | None = None) -> str:
    with api(server) as c:
        pid = c.post("/projects", json={"name": "Chat"}).json()["id"]
        body = {"projectId": pid, "name": "Echo", **(graph or echo_graph())}
        wid = c.post("/workflows", json=body).json()["id"]
        r = c.post(f"/workflows/{wid}/publish")
        assert r.status_code == 200, r.text
        return wid


def create_widget(server: LiveServer, workflow_id: str, **fields: Any) -> dict[str, Any]:
    with api(server) as c:
        body = {"workflow_id": workflow_id, "allowed_origins": [ORIGIN], **fields}
        r = c.post("/widgets", json=body)
        assert r.status_code == 201, r.text
        return r.json()


@asynccontextmanager
async def socket(
    server: LiveServer, query: str = "", origin: str | None = None, **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    headers = {"Origin": origin} if origin else None
    async with connect(ws_url(server, query), additional_headers=headers, **kwargs) as ws:
        yield ws


async def recv(ws: ClientConnection, wait_s: float = 15) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), wait_s))


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(json.dumps(frame))


async def authed(ws: ClientConnection, server: LiveServer) -> None:
    await send(ws, {"type": "auth", "api_key": server.admin_key})
    assert (await recv(ws))["type"] == "auth.ok"


async def open_session(ws: ClientConnection, **fields: Any) -> dict[str, Any]:
    await send(ws, {"type": "session.open", **fields})
    ready = await recv(ws)
    assert ready["type"] == "session.ready", ready
    return ready


async def until(ws: ClientConnection, kind: str, wait_s: float = 20) -> list[dict[str, Any]]:
    """Every frame up to and including the first of type `kind`."""
    frames: list[dict[str, Any]] = []
    while True:
        frame = await recv(ws, wait_s)
        frames.append(frame)
        if frame["type"] == kind:
            return frames


# --- protocol basics on a real server ---------------------------------------------------------


async def test_malformed_frames_get_errors_and_the_socket_stays_open(
    live_server: LiveServer,
) -> None:
    async with socket(live_server) as ws:
        await authed(ws, live_server)
        for raw in ("nope", "[]", '{"type":"bogus"}', '{"type":"message.send"}', "{" * 50_000):
            await ws.send(raw)
            err = await recv(ws)
            assert err["type"] == "error" and err["code"] and err["message"], err
        await send(ws, {"type": "message.send", "content": "hi"})
        assert (await recv(ws))["code"] == "SESSION_NOT_OPEN"
        await send(ws, {"type": "ping", "id": "still-here"})
        assert (await recv(ws))["id"] == "still-here"


async def test_bad_credentials_close_with_a_reason(live_server: LiveServer) -> None:
    async with socket(live_server) as ws:
        await send(ws, {"type": "auth", "api_key": "nl_sk_wrong"})
        assert (await recv(ws))["code"] == "INVALID_API_KEY"
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        assert "INVALID_API_KEY" in info.value.rcvd.reason


async def test_widget_origin_refused_at_the_handshake(live_server: LiveServer) -> None:
    widget = create_widget(live_server, published_workflow(live_server))
    query = f"?widget_id={widget['id']}"
    with pytest.raises(InvalidStatus) as info:
        async with socket(live_server, query, origin="https://evil.example"):
            pass
    assert info.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        async with socket(live_server, query):  # no Origin at all
            pass
    async with socket(live_server, query, origin=ORIGIN) as ws:
        await send(ws, {"type": "auth", "widget_id": widget["id"]})
        ok = await recv(ws)
        assert ok["type"] == "auth.ok" and ok["visitor_token"].startswith("v1.")
    async with socket(live_server, origin="https://evil.example") as ws:  # not named in the URL
        await send(ws, {"type": "auth", "widget_id": widget["id"]})
        assert (await recv(ws))["code"] == "ORIGIN_NOT_ALLOWED"
        with pytest.raises(ConnectionClosed):
            await recv(ws)


# --- turns over a real socket -----------------------------------------------------------------


def assert_contiguous(frames: list[dict[str, Any]], start: int) -> None:
    assert [f["seq"] for f in frames] == list(range(start, start + len(frames)))


async def test_stream_a_turn(live_server: LiveServer) -> None:
    wid = published_workflow(live_server)
    async with socket(live_server) as ws:
        await authed(ws, live_server)
        ready = await open_session(ws, workflow_id=wid)
        await send(
            ws,
            {
                "type": "message.send",
                "content": "streams word by word",
                "client_message_id": "live-1",
            },
        )
        frames = await until(ws, "run:result")
    assert_contiguous(frames, ready["seq"] + 1)
    assert frames[0]["type"] == "message.created" and frames[0]["client_message_id"] == "live-1"
    deltas = [f["delta"] for f in frames if f["type"] == "node:text-delta"]
    assert len(deltas) == 4 and "".join(deltas) == "streams word by word"
    complete = next(f for f in frames if f["type"] == "run:complete")
    assert complete["status"] == "completed" and complete["runId"] == frames[1]["runId"]


async def test_two_sockets_one_session(live_server: LiveServer) -> None:
    wid = published_workflow(live_server)
    async with socket(live_server) as tab1, socket(live_server) as tab2:
        await authed(tab1, live_server)
        await authed(tab2, live_server)
        sid = (await open_session(tab1, workflow_id=wid))["session"]["id"]
        await open_session(tab2, session_id=sid)
        for n, (sender, other) in enumerate(((tab1, tab2), (tab2, tab1))):
            await send(
                sender,
                {"type": "message.send", "content": f"turn {n}", "client_message_id": f"tab-{n}"},
            )
            mine, theirs = await until(sender, "run:result"), await until(other, "run:result")
            assert mine == theirs and mine[0]["client_message_id"] == f"tab-{n}"


async def test_reconnect_with_resume_after_seq_loses_nothing(live_server: LiveServer) -> None:
    wid = published_workflow(live_server, echo_graph(delay_ms=30))
    words = [f"w{i}" for i in range(30)]
    async with socket(live_server) as ws:
        await authed(ws, live_server)
        ready = await open_session(ws, workflow_id=wid)
        sid = ready["session"]["id"]
        await send(
            ws,
            {"type": "message.send", "content": " ".join(words), "client_message_id": "resume-1"},
        )
        seen = [await recv(ws) for _ in range(6)]  # then the connection drops mid-turn
    last_seq = seen[-1]["seq"]
    await asyncio.sleep(0.3)  # the turn goes on without us
    async with socket(live_server) as ws:
        await authed(ws, live_server)
        again = await open_session(ws, session_id=sid, resume_after_seq=last_seq)
        assert again["resumed"] is True
        rest = await until(ws, "run:result")
    everything = seen + rest
    assert_contiguous(everything, ready["seq"] + 1)  # in order, nothing missing, no repeats
    deltas = [f["delta"] for f in everything if f["type"] == "node:text-delta"]
    assert "".join(deltas).split() == words
    # a resend of the same client message id after the reconnect is not stored twice
    async with socket(live_server) as ws:
        await authed(ws, live_server)
        await open_session(ws, session_id=sid)
        await send(
            ws,
            {"type": "message.send", "content": " ".join(words), "client_message_id": "resume-1"},
        )
        dup = await recv(ws)
        assert dup["type"] == "message.created" and dup["duplicate"] is True
    with api(live_server) as c:
        page = c.get(f"/sessions/{sid}/messages").json()
    assert [m["role"] for m in page["data"]] == ["user", "assistant"]


async def test_slow_consumer_is_closed_with_a_reason(live_server: LiveServer) -> None:
    """A client that stops reading is cut off (1013) instead of growing server memory, and
    a socket on another session streams on undisturbed meanwhile."""
    import socket as sockets

    wid = published_workflow(live_server)
    host, port = live_server.base_url.removeprefix("http://").split(":")
    raw = sockets.socket()
    raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)
    raw.connect((host, int(port)))
    raw.setblocking(False)
    async with (
        connect(ws_url(live_server), sock=raw, max_queue=1, ping_interval=None) as slow,
        socket(live_server) as other,
    ):
        await authed(slow, live_server)
        await authed(other, live_server)
        sid = (await open_session(slow, workflow_id=wid))["session"]["id"]
        ready = await open_session(other, workflow_id=wid)
        # `slow` reads nothing from now on. 30 turns on its session, started over HTTP, of 99
        # words of 1 kB: ~12 MB of frames (deltas, then the whole text in the message and
        # result events), more than the socket buffers on the way (≤ 4 MB) plus the queue
        # hold. Few, large frames fill them fast on either bus, well before the server's
        # keepalive (a ping unanswered for 20 s) would cut a client that reads nothing.
        word = "x" * 999 + " "
        async with httpx.AsyncClient(base_url=live_server.base_url, timeout=120) as http:
            for n in range(30):
                r = await http.post(
                    "/api/v1/run",
                    headers={"Authorization": f"Bearer {live_server.admin_key}"},
                    json={
                        "workflow_id": wid,
                        "session_id": sid,
                        "input": [{"role": "user", "content": word * 99 + f"t{n}"}],
                    },
                )
                assert r.status_code == 200 and r.json()["status"] == "completed", r.text
        # meanwhile another session is served as usual
        await send(other, {"type": "message.send", "content": "still responsive"})
        frames = await until(other, "run:result", wait_s=30)
        assert_contiguous(frames, ready["seq"] + 1)
        assert frames[-1]["status"] == "completed"
        await asyncio.sleep(6)  # past the stall timeout (5 s)
        with pytest.raises(ConnectionClosed) as info:
            while True:  # what was buffered before the cut, then the close frame
                await recv(slow, wait_s=30)
    closed = info.value.rcvd
    assert closed is not None, info.value  # a clean close with a reason, not a dropped socket
    assert closed.code == 1013 and "slow consumer" in closed.reason, closed
