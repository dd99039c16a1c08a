"""The chat WebSocket protocol, frame by frame, in-process (Starlette's TestClient): auth with an
API key or as a widget visitor (anonymous token issued, reused; site-signed tokens), Origin
checks at the handshake and at auth, malformed frames answered with error frames on a socket
that stays open, fatal errors closing with a reason, ping/pong, the auth timeout, sessions
(API key and visitor ownership), message.send → message.created + the run's events with seq,
resend de-duplication, resume after a seq, cancel, approvals refused to widgets, rate limits."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from chat_platform.app import create_app
from chat_platform.config import Settings
from chat_platform.services import visitors
from chat_platform.services.widgets import WidgetLimits
from chat_platform.ws.connection import SocketLimits
from tests.conftest import make_key
from tests.workflows import echo_graph, gate_then_echo, stored_workflow

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ORIGIN = "https://shop.example.com"


class Chat:
    """A TestClient whose app runs in the portal's loop; `call` runs a coroutine there."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.runtime = client.app.state.runtime  # type: ignore[attr-defined]

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async def run() -> Any:
            return await fn(*args, **kwargs)

        assert self.client.portal is not None
        return self.client.portal.call(run)

    def connect(self, path: str = "/api/v1/ws", origin: str | None = ORIGIN) -> Any:
        headers = {"origin": origin} if origin else {}
        return self.client.websocket_connect(path, headers=headers)

    def widget(self, graph: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        key = self.call(make_key, "admin")
        wf = self.call(stored_workflow, **({"graph": graph} if graph else {}))
        body = {"workflow_id": wf, "allowed_origins": [ORIGIN], **fields}
        r = self.client.post(
            "/api/v1/widgets", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status_code == 201, r.text
        return r.json()


@pytest.fixture
def chat(settings: Settings) -> Iterator[Chat]:
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as client:
        yield Chat(client)


def recv(ws: Any) -> dict[str, Any]:
    return json.loads(ws.receive_text())


def auth_key(chat: Chat, ws: Any, role: str = "admin") -> dict[str, Any]:
    ws.send_json({"type": "auth", "api_key": chat.call(make_key, role)})
    frame = recv(ws)
    assert frame["type"] == "auth.ok", frame
    return frame


def expect_close(ws: Any) -> WebSocketDisconnect:
    with pytest.raises(WebSocketDisconnect) as info:
        while True:
            ws.receive_text()
    return info.value


# --- authentication ---------------------------------------------------------------------------


def test_auth_with_api_key_and_ping(chat: Chat) -> None:
    with chat.connect(origin=None) as ws:
        ok = auth_key(chat, ws)
        assert ok == {"type": "auth.ok", "visitor_token": None, "visitor_id": None, "seq": 0}
        ws.send_json({"type": "ping", "id": 7})
        assert recv(ws) == {"type": "pong", "id": 7, "seq": 0}
        ws.send_json({"type": "auth", "api_key": "nl_sk_x"})
        err = recv(ws)
        assert err["type"] == "error" and err["code"] == "CONFLICT"  # already authenticated


def test_bad_api_key_is_fatal_with_reason(chat: Chat) -> None:
    with chat.connect() as ws:
        ws.send_json({"type": "auth", "api_key": "nl_sk_nope"})
        err = recv(ws)
        assert err["type"] == "error" and err["code"] == "INVALID_API_KEY"
        assert err["frame"] == "auth"
        closed = expect_close(ws)
        assert closed.code == 1008 and "INVALID_API_KEY" in closed.reason


def test_frames_before_auth_are_refused(chat: Chat) -> None:
    with chat.connect() as ws:
        ws.send_json({"type": "ping"})
        assert recv(ws)["type"] == "pong"  # ping is always allowed
        ws.send_json({"type": "session.open", "workflow_id": "wf_x"})
        assert recv(ws)["code"] == "UNAUTHORIZED"
        assert expect_close(ws).code == 1008


def test_auth_timeout_closes(chat: Chat) -> None:
    chat.runtime.extras["ws_limits"] = SocketLimits(auth_timeout_s=0.2)
    with chat.connect() as ws:
        closed = expect_close(ws)
        assert closed.code == 1008 and "authentication timeout" in closed.reason


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "INVALID_JSON"),
        ("[1,2]", "VALIDATION_ERROR"),
        ('{"no": "type"}', "MISSING_FIELD"),
        ('{"type": "nope"}', "VALIDATION_ERROR"),
        ('{"type": 5}', "MISSING_FIELD"),
        ('{"type": "message.send"}', "MISSING_FIELD"),
        ('{"type": "message.send", "content": 5}', "VALIDATION_ERROR"),
        (
            '{"type": "approval.respond", "run_id": "run_x", "decision": "maybe"}',
            "VALIDATION_ERROR",
        ),
        ('{"type": "session.open", "resume_after_seq": -1}', "VALIDATION_ERROR"),
        ("[" * 100_000, "INVALID_JSON"),
    ],
)
def test_malformed_frames_get_error_and_socket_stays_open(chat: Chat, raw: str, code: str) -> None:
    with chat.connect() as ws:
        auth_key(chat, ws)
        ws.send_text(raw)
        err = recv(ws)
        assert err["type"] == "error" and err["code"] == code, err
        assert isinstance(err["message"], str) and err["message"]
        ws.send_json({"type": "ping"})
        assert recv(ws)["type"] == "pong"


def test_binary_frames(chat: Chat) -> None:
    with chat.connect() as ws:
        auth_key(chat, ws)
        ws.send_bytes(b'{"type":"ping","id":1}')
        assert recv(ws) == {"type": "pong", "id": 1, "seq": 0}
        ws.send_bytes(b"\xff\xfe")
        assert recv(ws)["code"] == "INVALID_JSON"
        ws.send_json({"type": "ping"})
        assert recv(ws)["type"] == "pong"


def test_widget_visitor_anonymous_token_issued_and_reused(chat: Chat) -> None:
    widget = chat.widget(title="Help", greeting="Hi!", starter_prompts=["Order?"])
    with chat.connect() as ws:
        ws.send_json({"type": "auth", "widget_id": widget["id"]})
        ok = recv(ws)
    assert ok["type"] == "auth.ok" and ok["visitor_token"].startswith("v1.")
    assert ok["visitor_id"].startswith("vis_")
    assert ok["widget"] == {
        "id": widget["id"],
        "title": "Help",
        "greeting": "Hi!",
        "starter_prompts": ["Order?"],
        "theme_color": "#2563eb",
        "show_feedback": False,
    }
    with chat.connect() as ws:
        ws.send_json(
            {"type": "auth", "widget_id": widget["id"], "visitor_token": ok["visitor_token"]}
        )
        again = recv(ws)
    assert again["visitor_token"] is None and again["visitor_id"] == ok["visitor_id"]


def test_widget_signed_visitor_token(chat: Chat) -> None:
    widget = chat.widget()
    token = visitors.sign_visitor_token(widget["signing_secret"], "customer-9", ttl_s=300)
    with chat.connect() as ws:
        ws.send_json({"type": "auth", "widget_id": widget["id"], "visitor_token": token})
        ok = recv(ws)
    assert ok["visitor_id"] == "user:customer-9" and ok["visitor_token"] is None
    expired = visitors.sign_visitor_token(widget["signing_secret"], "customer-9", ttl_s=-600)
    with chat.connect() as ws:
        ws.send_json({"type": "auth", "widget_id": widget["id"], "visitor_token": expired})
        assert recv(ws)["code"] == "INVALID_VISITOR_TOKEN"
        assert expect_close(ws).code == 1008


def test_widget_origin_checks(chat: Chat) -> None:
    widget = chat.widget()
    # refused at the handshake when the widget is named in the URL
    with pytest.raises(WebSocketDisconnect) as info:
        with chat.connect(f"/api/v1/ws?widget_id={widget['id']}", origin="https://evil.example"):
            pass
    assert info.value.code == 1008
    with pytest.raises(WebSocketDisconnect):
        with chat.connect("/api/v1/ws?widget_id=wgt_missing"):
            pass
    with chat.connect(f"/api/v1/ws?widget_id={widget['id']}") as ws:  # allowed origin
        ws.send_json({"type": "auth", "widget_id": widget["id"]})
        assert recv(ws)["type"] == "auth.ok"
    # refused at auth otherwise; a missing Origin is refused too
    for origin in ("https://evil.example", None):
        with chat.connect(origin=origin) as ws:
            ws.send_json({"type": "auth", "widget_id": widget["id"]})
            err = recv(ws)
            assert err["code"] == "ORIGIN_NOT_ALLOWED", err
            assert expect_close(ws).code == 1008
    # our own hosted page (same origin as the server) is always allowed
    with chat.connect(origin="http://testserver") as ws:
        ws.send_json({"type": "auth", "widget_id": widget["id"]})
        assert recv(ws)["type"] == "auth.ok"
    with chat.connect() as ws:
        ws.send_json({"type": "auth", "widget_id": "wgt_nope"})
        assert recv(ws)["code"] == "WIDGET_NOT_FOUND"


def test_widget_connect_rate_limit_per_ip(chat: Chat) -> None:
    widget = chat.widget()
    limits = WidgetLimits.from_settings(chat.runtime.settings)
    chat.runtime.extras["widget_limits"] = dataclasses.replace(limits, connects_per_ip=2)
    for _ in range(2):
        with chat.connect() as ws:
            ws.send_json({"type": "auth", "widget_id": widget["id"]})
            assert recv(ws)["type"] == "auth.ok"
    with chat.connect() as ws:
        ws.send_json({"type": "auth", "widget_id": widget["id"]})
        err = recv(ws)
        assert err["code"] == "RATE_LIMITED" and err["retry_after"] >= 1
        assert expect_close(ws).code == 1008


def test_timing_sanity(chat: Chat) -> None:
    """Many frames on one socket are answered in order."""
    with chat.connect() as ws:
        auth_key(chat, ws)
        started = time.monotonic()
        for i in range(200):
            ws.send_json({"type": "ping", "id": i})
        assert [recv(ws)["id"] for _ in range(200)] == list(range(200))
        assert time.monotonic() - started < 30


# --- the bounded send queue (no network: a socket whose client never reads) -----------------


class StalledSocket:
    """Stands in for a WebSocket whose peer stopped reading: every send blocks."""

    client = None
    headers: dict[str, str] = {}  # noqa: RUF012
    scope: dict[str, Any] = {"type": "websocket", "extensions": {}}  # noqa: RUF012

    def __init__(self) -> None:
        import asyncio

        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self._never = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.sent.append(text)
        await self._never.wait()

    async def receive(self) -> dict[str, Any]:
        await self._never.wait()
        return {"type": "websocket.disconnect"}

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def serving_a_stalled_client(limits: SocketLimits) -> tuple[Any, Any, Any]:
    """A connection whose client reads nothing, served: (socket, connection, serving task)."""
    from chat_platform.ws.connection import Connection

    class Runtime:
        extras: dict[str, Any] = {}  # noqa: RUF012

    stalled = StalledSocket()
    conn = Connection(stalled, Runtime(), limits)  # type: ignore[arg-type]
    conn.identity = object()  # type: ignore[assignment]

    async def on_text(text: str) -> None:
        raise AssertionError("nothing is read")

    serving = asyncio.create_task(conn.serve(on_text))
    await asyncio.sleep(0.01)
    return stalled, conn, serving


async def test_slow_consumer_is_cut_off_with_bounded_memory() -> None:
    limits = SocketLimits(queue_limit=10, stall_timeout_s=0.3, close_timeout_s=0.2)
    stalled, conn, serving = await serving_a_stalled_client(limits)
    for i in range(1, 1000):
        conn.push_event({"type": "node:text-delta", "delta": "x"}, i)
        assert conn._queue.qsize() <= limits.queue_limit
        await asyncio.sleep(0)
    assert conn._overflow is not None and len(conn._overflow) > 900  # waiting, not dropped
    await asyncio.wait_for(serving, 5)  # …for stall_timeout_s, then the client is cut off
    assert conn.last_seq == 11  # one in the socket, ten queued; the rest never were
    assert stalled.closed is not None and stalled.closed[0] == 1013
    assert "slow consumer" in stalled.closed[1]
    assert len(stalled.sent) == 1  # the one frame stuck in the socket; the rest were dropped
    assert conn._overflow is None


async def test_an_overflow_past_its_limit_closes_at_once() -> None:
    limits = SocketLimits(queue_limit=10, stall_timeout_s=60, overflow_limit=100)
    stalled, conn, serving = await serving_a_stalled_client(limits)
    for i in range(1, 10_000):
        conn.push_event({"type": "node:text-delta", "delta": "x"}, i)
        if conn._overflow is not None:
            assert len(conn._overflow) <= limits.overflow_limit
    await asyncio.wait_for(serving, 5)  # not after the 60 s stall timeout
    assert stalled.closed is not None and stalled.closed[0] == 1013
    assert "slow consumer" in stalled.closed[1]


# --- sessions and turns -----------------------------------------------------------------------

APPROVAL_GRAPH = gate_then_echo("Go on?")


def open_session(ws: Any, **fields: Any) -> dict[str, Any]:
    ws.send_json({"type": "session.open", **fields})
    ready = recv(ws)
    assert ready["type"] == "session.ready", ready
    return ready


def until(ws: Any, kind: str, *, role: str | None = None) -> list[dict[str, Any]]:
    """Frames up to and including the first of type `kind` (and message role, if given)."""
    frames = []
    while True:
        frame = recv(ws)
        frames.append(frame)
        if frame["type"] == kind and (role is None or frame["message"]["role"] == role):
            return frames


def turn(ws: Any, content: str, cid: str | None = None) -> list[dict[str, Any]]:
    """Send a message; every frame until the run's last event (run:result)."""
    frame: dict[str, Any] = {"type": "message.send", "content": content}
    if cid:
        frame["client_message_id"] = cid
    ws.send_json(frame)
    return until(ws, "run:result")


def test_api_key_session_and_a_streamed_turn(chat: Chat) -> None:
    wf = chat.call(stored_workflow)
    with chat.connect(origin=None) as ws:
        auth_key(chat, ws)
        ready = open_session(ws, workflow_id=wf)
        assert ready["session"]["workflow_id"] == wf and ready["session"]["id"].startswith("sess_")
        assert ready["messages"] == [] and ready["resumed"] is False
        # a new session's counter starts at a time-based base (see bus.events.seq_base)
        assert ready["seq"] >= (time.time() - 60) * 1_000_000
        frames = turn(ws, "hello brave new world", "c-1")
    base = ready["seq"]
    assert [f["seq"] for f in frames] == list(range(base + 1, base + len(frames) + 1))
    first = frames[0]
    assert first["type"] == "message.created" and first["client_message_id"] == "c-1"
    user = first["message"]
    assert user["role"] == "user" and user["content"] == "hello brave new world"
    assert user["id"].startswith("msg_") and user["created_at"].endswith("Z")
    types = [f["type"] for f in frames]
    assert types[1] == "run:start" and "run:complete" in types and "run:result" in types
    run_id = frames[1]["runId"]
    deltas = [f for f in frames if f["type"] == "node:text-delta"]
    assert "".join(f["delta"] for f in deltas) == "hello brave new world"
    assert all(f["runId"] == run_id and f["nodeId"] == "agent_1" for f in deltas)
    assert set(deltas[0]) == {"type", "runId", "nodeId", "nodeType", "nodeLabel", "delta", "seq"}
    complete = next(f for f in frames if f["type"] == "run:complete")
    assert complete["status"] == "completed"
    answer = next(f for f in frames if f["type"] == "message.created" and f is not first)
    assert answer["message"]["role"] == "assistant"
    assert types.index("message.created", 1) < types.index("run:complete")  # stored, then done
    assert answer["message"]["content"] == "hello brave new world"
    assert answer["message"]["run_id"] == run_id and answer["client_message_id"] is None

    # reopening the session shows the history and the latest seq
    with chat.connect(origin=None) as ws:
        auth_key(chat, ws)
        again = open_session(ws, session_id=user["session_id"])
        assert [m["role"] for m in again["messages"]] == ["user", "assistant"]
        assert again["seq"] == frames[-1]["seq"]
        ws.send_json({"type": "ping"})
        assert recv(ws) == {"type": "pong", "id": None, "seq": again["seq"]}


def test_session_open_errors(chat: Chat) -> None:
    wf, other = chat.call(stored_workflow), chat.call(stored_workflow)
    draft = chat.call(stored_workflow, published=False)
    with chat.connect(origin=None) as ws:
        auth_key(chat, ws)
        ws.send_json({"type": "session.open"})
        assert recv(ws)["code"] == "MISSING_FIELD"
        ws.send_json({"type": "session.open", "workflow_id": "wf_nope"})
        assert recv(ws)["code"] == "WORKFLOW_NOT_FOUND"
        ws.send_json({"type": "session.open", "session_id": "sess_nope"})
        assert recv(ws)["code"] == "SESSION_NOT_FOUND"
        sid = open_session(ws, workflow_id=wf)["session"]["id"]
        ws.send_json({"type": "session.open", "session_id": sid, "workflow_id": other})
        assert recv(ws)["code"] == "SESSION_WORKFLOW_MISMATCH"
        ws.send_json({"type": "run.cancel", "run_id": "run_nope"})
        assert recv(ws)["code"] == "NOT_FOUND"
        open_session(ws, workflow_id=draft)
        ws.send_json({"type": "message.send", "content": "hi"})
        assert recv(ws)["code"] == "WORKFLOW_NOT_PUBLISHED"
    with chat.connect(origin=None) as ws:
        auth_key(chat, ws, role="viewer")
        ws.send_json({"type": "session.open", "workflow_id": wf})
        assert recv(ws)["code"] == "FORBIDDEN"
        open_session(ws, session_id=sid)  # a viewer may watch
        ws.send_json({"type": "message.send", "content": "hi"})
        assert recv(ws)["code"] == "FORBIDDEN"


def test_resend_is_never_stored_twice(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    from chat_platform.store.models import Message
    from chat_platform.ws import handlers

    # The resent message is found however old it is, not only among the newest few.
    monkeypatch.setattr(handlers, "HISTORY_LIMIT", 1)
    wf = chat.call(stored_workflow)
    with chat.connect(origin=None) as ws:
        auth_key(chat, ws)
        sid = open_session(ws, workflow_id=wf)["session"]["id"]
        frames = turn(ws, "only once", "dup-1")
        stored = frames[0]["message"]
        frames = turn(ws, "a later message", "other-1")
        ws.send_json({"type": "message.send", "content": "only once", "client_message_id": "dup-1"})
        ws.send_json({"type": "ping"})  # frames are handled in order: the answer comes first
        again = recv(ws)
        assert again["type"] == "message.created" and again["duplicate"] is True, again
        assert again["message"] == stored and again["client_message_id"] == "dup-1"
        assert again["seq"] == frames[-1]["seq"]  # a reply: no new session event
        assert recv(ws)["type"] == "pong"  # and no second turn started
    contents = chat.call(
        Message.filter(session_id=sid, role="user").order_by("created_at").values_list,
        "content",
        flat=True,
    )
    assert contents == ["only once", "a later message"]


def test_two_sockets_on_one_session_both_see_the_turn(chat: Chat) -> None:
    wf = chat.call(stored_workflow)
    with chat.connect(origin=None) as a, chat.connect(origin=None) as b:
        auth_key(chat, a)
        auth_key(chat, b)
        sid = open_session(a, workflow_id=wf)["session"]["id"]
        open_session(b, session_id=sid)
        seen_a = turn(a, "one two three", "t-1")
        seen_b = until(b, "run:result")
    assert seen_a == seen_b
    assert seen_b[0]["client_message_id"] == "t-1"  # b can tell it was not its own


def test_resume_after_seq_gets_everything_missed_once_in_order(chat: Chat) -> None:
    wf = chat.call(stored_workflow)
    with chat.connect(origin=None) as ws:
        auth_key(chat, ws)
        sid = open_session(ws, workflow_id=wf)["session"]["id"]
        first = turn(ws, "alpha beta", "r-1")
        cut = first[3]["seq"]  # pretend the socket died after this frame
        second = turn(ws, "gamma delta epsilon", "r-2")
    everything = first + second
    with chat.connect(origin=None) as ws:
        auth_key(chat, ws)
        ready = open_session(ws, session_id=sid, resume_after_seq=cut)
        assert ready["resumed"] is True and ready["seq"] == everything[-1]["seq"]
        replayed = [recv(ws) for _ in range(everything[-1]["seq"] - cut)]
        ws.send_json({"type": "ping"})
        pong = recv(ws)
    assert replayed == [f for f in everything if f["seq"] > cut]
    assert pong["type"] == "pong" and pong["seq"] == everything[-1]["seq"]
    # a seq from the future (say, an in-memory bus that restarted) is not resumable
    with chat.connect(origin=None) as ws:
        auth_key(chat, ws)
        ready = open_session(ws, session_id=sid, resume_after_seq=10_000)
        assert ready["resumed"] is False and len(ready["messages"]) == 4


def start_a_long_turn(chat: Chat, ws: Any) -> str:
    """A turn of 50 words, 200 ms apart, streaming on `ws`: its run id once it answers."""
    wf = chat.call(stored_workflow, graph=echo_graph(delay_ms=200))
    auth_key(chat, ws)
    open_session(ws, workflow_id=wf)
    ws.send_json({"type": "message.send", "content": " ".join(["w"] * 50)})
    return until(ws, "node:text-delta")[1]["runId"]


def test_cancel_a_running_turn(chat: Chat) -> None:
    with chat.connect(origin=None) as ws:
        run_id = start_a_long_turn(chat, ws)
        ws.send_json({"type": "run.cancel", "run_id": run_id})
        rest = until(ws, "run:complete")
    assert rest[-1]["status"] == "cancelled"
    assert not [f for f in rest if f["type"] == "error"]


def test_a_cancel_from_another_process_stops_the_turn(chat: Chat) -> None:
    """The turn runs here; another process's cancel arrives on the run's control channel."""
    with chat.connect(origin=None) as ws:
        run_id = start_a_long_turn(chat, ws)
        chat.call(chat.runtime.bus.publish, f"control:{run_id}", {"type": "other"})
        chat.call(chat.runtime.bus.publish, f"control:{run_id}", {"type": "cancel"})
        rest = until(ws, "run:complete")
    assert rest[-1]["status"] == "cancelled"
    assert run_id not in chat.runtime.runs.tasks
    # the turn's listener is gone with it: a late cancel finds nobody
    assert not chat.runtime.bus._router.has_subscribers(f"control:{run_id}")


def test_approvals_from_an_api_key_socket(chat: Chat) -> None:
    wf = chat.call(stored_workflow, graph=APPROVAL_GRAPH)
    with chat.connect(origin=None) as ws:
        auth_key(chat, ws)
        open_session(ws, workflow_id=wf)
        ws.send_json({"type": "message.send", "content": "ship it"})
        frames = until(ws, "run:result")
        assert frames[-1]["status"] == "pending_approval"
        waiting = next(f for f in frames if f["type"] == "node:waiting_approval")
        assert waiting["approvalPrompt"] == "Go on?"
        run_id = waiting["runId"]
        ws.send_json(
            {"type": "approval.respond", "run_id": run_id, "decision": "approve", "comment": "ok"}
        )
        rest = until(ws, "run:result")
        assert rest[0]["type"] == "run:resumed"
        answer = next(f for f in rest if f["type"] == "message.created")
        assert answer["message"]["content"] == "ship it"
        ws.send_json({"type": "approval.respond", "run_id": run_id, "decision": "reject"})
        assert recv(ws)["code"] == "CONFLICT"  # decided already


# --- widget visitors --------------------------------------------------------------------------


def widget_auth(chat: Chat, ws: Any, widget: dict[str, Any], token: str | None = None) -> dict:
    frame = {"type": "auth", "widget_id": widget["id"]}
    if token:
        frame["visitor_token"] = token
    ws.send_json(frame)
    ok = recv(ws)
    assert ok["type"] == "auth.ok", ok
    return ok


def test_visitor_sessions_are_theirs_alone(chat: Chat) -> None:
    widget = chat.widget()
    with chat.connect() as ws:
        ok = widget_auth(chat, ws, widget)
        ready = open_session(ws)
        assert ready["session"]["workflow_id"] == widget["workflow_id"]
        turn(ws, "remember me", "v-1")
    token, sid = ok["visitor_token"], ready["session"]["id"]
    with chat.connect() as ws:  # a reload: the same conversation comes back
        widget_auth(chat, ws, widget, token)
        again = open_session(ws)
        assert again["session"]["id"] == sid
        assert [m["content"] for m in again["messages"]] == ["remember me", "remember me"]
        fresh = open_session(ws, new=True)
        assert fresh["session"]["id"] != sid and fresh["messages"] == []
        assert open_session(ws, session_id=sid)["session"]["id"] == sid
    with chat.connect() as ws:  # another visitor cannot open it
        widget_auth(chat, ws, widget)
        ws.send_json({"type": "session.open", "session_id": sid})
        assert recv(ws)["code"] == "SESSION_NOT_FOUND"
        assert open_session(ws)["session"]["id"] not in (sid, fresh["session"]["id"])
        ws.send_json({"type": "session.open", "workflow_id": "wf_other"})
        assert recv(ws)["code"] == "FORBIDDEN"
    with chat.connect(origin=None) as ws:  # an API-key session is not a visitor's either
        auth_key(chat, ws)
        api_sid = open_session(ws, workflow_id=widget["workflow_id"])["session"]["id"]
    with chat.connect() as ws:
        widget_auth(chat, ws, widget, token)
        ws.send_json({"type": "session.open", "session_id": api_sid})
        assert recv(ws)["code"] == "SESSION_NOT_FOUND"


def test_signed_visitor_gets_the_same_history_on_any_device(chat: Chat) -> None:
    widget = chat.widget()
    secret = widget["signing_secret"]
    with chat.connect() as laptop:
        widget_auth(chat, laptop, widget, visitors.sign_visitor_token(secret, "alice"))
        sid = open_session(laptop)["session"]["id"]
        turn(laptop, "from the laptop")
    with chat.connect() as phone:
        widget_auth(chat, phone, widget, visitors.sign_visitor_token(secret, "alice"))
        ready = open_session(phone)
        assert ready["session"]["id"] == sid
        assert ready["messages"][0]["content"] == "from the laptop"
    with chat.connect() as other:
        widget_auth(chat, other, widget, visitors.sign_visitor_token(secret, "bob"))
        assert open_session(other)["session"]["id"] != sid


def test_widget_token_can_only_chat(chat: Chat) -> None:
    widget = chat.widget()
    with chat.connect() as ws:
        widget_auth(chat, ws, widget)
        open_session(ws)
        ws.send_json({"type": "message.send", "content": "hi", "variables": {"language": "fr"}})
        assert recv(ws)["code"] == "FORBIDDEN"
        ws.send_json({"type": "approval.respond", "run_id": "run_x", "decision": "approve"})
        assert recv(ws)["code"] == "NOT_FOUND"  # not a run of theirs
        frames = turn(ws, "hi there")
        run_id = next(f["runId"] for f in frames if f["type"] == "run:start")
        ws.send_json({"type": "run.cancel", "run_id": run_id})
        assert recv(ws)["code"] == "CONFLICT"  # its own run, already finished
    # a run of another session (even of the same workflow) is invisible to the visitor
    with chat.connect() as ws:
        widget_auth(chat, ws, widget)
        open_session(ws)
        ws.send_json({"type": "run.cancel", "run_id": run_id})
        assert recv(ws)["code"] == "NOT_FOUND"


def test_visitor_decides_the_approvals_of_their_own_conversation(chat: Chat) -> None:
    widget = chat.widget(graph=APPROVAL_GRAPH)
    with chat.connect() as ws:
        token = widget_auth(chat, ws, widget)["visitor_token"]
        open_session(ws)
        ws.send_json({"type": "message.send", "content": "book it", "client_message_id": "b1"})
        frames = until(ws, "run:result")
        assert frames[-1]["status"] == "pending_approval"
        run_id = frames[-1]["id"]
    with chat.connect() as stranger:  # another visitor cannot see, let alone decide, it
        widget_auth(chat, stranger, widget)
        open_session(stranger)
        stranger.send_json({"type": "approval.respond", "run_id": run_id, "decision": "approve"})
        assert recv(stranger)["code"] == "NOT_FOUND"
    with chat.connect() as ws:  # after a reload the pending approval is announced again
        widget_auth(chat, ws, widget, token)
        ready = open_session(ws)
        assert ready["active_runs"] == [
            {
                "run_id": run_id,
                "status": "pending_approval",
                "approval_prompt": "Go on?",
                "paused_at_node_id": "gate",
            }
        ]
        ws.send_json({"type": "approval.respond", "run_id": run_id, "decision": "approve"})
        rest = until(ws, "run:result")
        assert rest[0]["type"] == "run:resumed" and rest[-1]["status"] == "completed"
        answer = next(f for f in rest if f["type"] == "message.created")
        assert answer["message"]["content"] == "book it"
        assert open_session(ws)["active_runs"] == []


def test_visitor_message_rate_limit(chat: Chat) -> None:
    widget = chat.widget()
    from_env = Settings.from_env({"CHAT_PLATFORM_WIDGET_MESSAGES_PER_VISITOR": "2"})
    assert from_env.widget_messages_per_visitor == 2
    per_visitor = from_env.widget_messages_per_visitor
    chat.runtime.settings = dataclasses.replace(
        chat.runtime.settings, widget_messages_per_visitor=per_visitor
    )
    with chat.connect() as ws:
        widget_auth(chat, ws, widget)
        open_session(ws)
        turn(ws, "one")
        turn(ws, "two")
        ws.send_json({"type": "message.send", "content": "three"})
        err = recv(ws)
        assert err["code"] == "RATE_LIMITED" and err["retry_after"] >= 1
        ws.send_json({"type": "ping"})
        assert recv(ws)["type"] == "pong"  # not fatal


def test_visitor_feedback_on_answers(chat: Chat) -> None:
    widget = chat.widget(show_feedback=True)
    with chat.connect() as ws:
        ok = widget_auth(chat, ws, widget)
        assert ok["widget"]["show_feedback"] is True
        token = ok["visitor_token"]
        open_session(ws)
        frames = turn(ws, "rate me")
        answer = next(
            f["message"]
            for f in frames
            if f["type"] == "message.created" and f["message"]["role"] == "assistant"
        )
        question = next(f["message"] for f in frames if f["type"] == "message.created")
        ws.send_json(
            {
                "type": "feedback",
                "message_id": answer["id"],
                "rating": "down",
                "comment": "too short",
            }
        )
        ok = recv(ws)
        assert (ok["type"], ok["message_id"], ok["rating"]) == ("feedback.ok", answer["id"], "down")
        ws.send_json({"type": "feedback", "message_id": question["id"], "rating": "up"})
        assert recv(ws)["code"] == "MESSAGE_NOT_FOUND"  # only answers are rated
        ws.send_json({"type": "feedback", "message_id": answer["id"], "rating": "great"})
        assert recv(ws)["code"] == "VALIDATION_ERROR"
    with chat.connect() as other:  # nobody else can rate this visitor's answers
        widget_auth(chat, other, widget)
        open_session(other)
        other.send_json({"type": "feedback", "message_id": answer["id"], "rating": "up"})
        assert recv(other)["code"] == "MESSAGE_NOT_FOUND"

    headers = {"Authorization": f"Bearer {chat.call(make_key, 'viewer')}"}
    url = f"/api/v1/widgets/{widget['id']}/feedback"
    listed = chat.client.get(url, headers=headers).json()
    assert listed["pagination"]["total"] == 1
    item = listed["data"][0]
    assert (item["message_id"], item["rating"], item["comment"], item["content"]) == (
        answer["id"],
        "down",
        "too short",
        "rate me",
    )
    assert item["rated_at"] and item["session_id"] == answer["session_id"]
    assert chat.client.get(url + "?rating=up", headers=headers).json()["data"] == []
    bad = chat.client.get(url + "?rating=meh", headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
    missing = chat.client.get("/api/v1/widgets/wgt_nope/feedback", headers=headers)
    assert missing.status_code == 404

    with chat.connect() as ws:  # the visitor withdraws the rating after a reload
        widget_auth(chat, ws, widget, token)
        open_session(ws)
        ws.send_json({"type": "feedback", "message_id": answer["id"], "rating": None})
        assert recv(ws)["rating"] is None
    assert chat.client.get(url, headers=headers).json()["data"] == []
