"""The run API over a real server process: SSE framing and headers, replay with
Last-Event-ID, a vanished client, cancel, provider failures, and the spec's multi-turn flow."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from tests.conftest import LiveServer
from tests.workflows import linear, with_approval


def client(server: LiveServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url + "/api/v1",
        timeout=30,
        headers={"Authorization": f"Bearer {server.admin_key}"},
    )


def publish(c: httpx.Client, graph: tuple[list, list]) -> str:
    project = c.post("/projects", json={"name": "live"}).json()["id"]
    nodes, edges = graph
    wf = c.post("/workflows", json={"projectId": project, "nodes": nodes, "edges": edges})
    assert wf.status_code == 201, wf.text
    assert c.post(f"/workflows/{wf.json()['id']}/publish").status_code == 200
    return wf.json()["id"]


def parse_sse(lines: list[str]) -> list[dict]:
    """Blocks of `field: value` lines → dicts with id/event/data (comments kept as 'comment')."""
    events, block = [], {}
    for line in lines:
        if line == "":
            if block:
                events.append(block)
            block = {}
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        key = field or "comment"
        block[key] = value if key != "data" else json.loads(value)
    if block:
        events.append(block)
    return events


def stream_lines(c: httpx.Client, method: str, url: str, **kw) -> tuple[httpx.Response, list]:
    with c.stream(method, url, **kw) as r:
        lines = list(r.iter_lines()) if r.status_code == 200 else []
        r.read() if r.status_code != 200 else None
        return r, lines


def test_stream_framing_and_headers(live_server: LiveServer) -> None:
    with client(live_server) as c:
        wf = publish(c, linear())
        r, lines = stream_lines(
            c,
            "POST",
            "/run/stream",
            json={"workflow_id": wf, "input": [{"role": "user", "content": "Here is a summary"}]},
        )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache, no-transform"
    assert r.headers["x-accel-buffering"] == "no"
    assert r.headers["x-run-id"].startswith("run_")
    assert lines[0].startswith(":")  # a comment at once
    events = [e for e in parse_sse(lines) if "data" in e]
    types = [e["data"]["type"] for e in events]
    assert types[0] == "run:start" and types[-2:] == ["run:complete", "run:result"]
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    deltas = [e for e in events if e["data"]["type"] == "node:text-delta"]
    assert "".join(e["data"]["delta"] for e in deltas) == "Here is a summary"
    assert all("event" not in e for e in deltas)  # as in the spec's sample
    assert all(e["event"] == e["data"]["type"] for e in events if e not in deltas)
    result = events[-1]["data"]
    assert result["id"] == r.headers["x-run-id"] and result["output"] == "Here is a summary"
    start = events[0]["data"]
    assert start == {"type": "run:start", "runId": result["id"], "totalNodes": 3}


def test_replay_with_last_event_id_then_follow(live_server: LiveServer) -> None:
    with client(live_server) as c:
        wf = publish(c, linear(delay_ms=20))
        with c.stream(
            "POST",
            "/run/stream",
            json={
                "workflow_id": wf,
                "input": [{"role": "user", "content": "one two three four five six"}],
            },
        ) as r:
            run_id = r.headers["x-run-id"]
            seen = []
            for line in r.iter_lines():
                if line.startswith("id:"):
                    seen.append(int(line[3:]))
                if len(seen) == 6:
                    break  # the client drops mid-answer
        r2, lines = stream_lines(
            c, "GET", f"/runs/{run_id}/events", headers={"Last-Event-ID": str(seen[-1])}
        )
        assert r2.status_code == 200
        rest = [e for e in parse_sse(lines) if "data" in e]
        assert int(rest[0]["id"]) == seen[-1] + 1
        assert rest[-1]["data"]["type"] == "run:result"
        assert rest[-1]["data"]["output"] == "one two three four five six"
        # After the end, ?after= past the log synthesizes the stored result.
        _r3, lines = stream_lines(c, "GET", f"/runs/{run_id}/events?after=100000")
        final = [e for e in parse_sse(lines) if "data" in e]
        assert [e["data"]["type"] for e in final] == ["run:result"]
        bad = c.get(f"/runs/{run_id}/events?after=x")
        assert bad.status_code == 400


def test_vanished_client_does_not_stop_the_run(live_server: LiveServer) -> None:
    with client(live_server) as c:
        wf = publish(c, linear(delay_ms=30))
        session = c.post("/sessions", json={"workflow_id": wf}).json()["id"]
        words = "alpha beta gamma delta epsilon zeta eta theta"
        with c.stream(
            "POST",
            "/run/stream",
            json={
                "workflow_id": wf,
                "session_id": session,
                "input": [{"role": "user", "content": words}],
            },
        ) as r:
            run_id = r.headers["x-run-id"]
            for line in r.iter_lines():
                if "node:text-delta" in line:
                    break
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            run = c.get(f"/runs/{run_id}").json()
            if run["status"] != "running":
                break
            time.sleep(0.1)
        assert run["status"] == "completed" and run["output"] == words
        msgs = c.get(f"/sessions/{session}/messages").json()["data"]
        assert [(m["role"], m["content"]) for m in msgs] == [("user", words), ("assistant", words)]


def test_cancel_keeps_a_marked_partial_answer(live_server: LiveServer) -> None:
    with client(live_server) as c:
        wf = publish(c, linear(delay_ms=200))
        session = c.post("/sessions", json={"workflow_id": wf}).json()["id"]
        with c.stream(
            "POST",
            "/run/stream",
            json={
                "workflow_id": wf,
                "session_id": session,
                "input": [{"role": "user", "content": "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10"}],
            },
        ) as r:
            run_id = r.headers["x-run-id"]
            for line in r.iter_lines():
                if "node:text-delta" in line:
                    break
            cancelled = c.post(f"/runs/{run_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert c.post(f"/runs/{run_id}/cancel").status_code == 409
        msgs = c.get(f"/sessions/{session}/messages").json()["data"]
        assert msgs[-1]["role"] == "assistant" and msgs[-1]["status"] == "partial"
        assert msgs[-1]["content"].startswith("w1") and msgs[-1]["content"] != msgs[0]["content"]


class _EchoAuthHandler(BaseHTTPRequestHandler):
    """A hostile upstream: 401 with the credentials echoed back in the error body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps({"error": {"message": f"bad key {self.headers.get('authorization')}"}})
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def hostile_upstream() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _EchoAuthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_provider_error_is_502_and_never_leaks_the_key(
    live_server: LiveServer, hostile_upstream: str
) -> None:
    secret = "sk-live-" + "s3cr3t" * 4
    with client(live_server) as c:
        wf = publish(c, linear("openai"))
        assert (
            c.post(
                f"/workflows/{wf}/secrets", json={"name": "OPENAI_API_KEY", "value": secret}
            ).status_code
            == 201
        )
        assert (
            c.post(
                f"/workflows/{wf}/secrets",
                json={"name": "OPENAI_BASE_URL", "value": hostile_upstream},
            ).status_code
            == 201
        )
        r = c.post("/run", json={"workflow_id": wf, "input": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 502, r.text
        assert r.json()["error"]["code"] == "PROVIDER_ERROR"
        assert "HTTP 401" in r.json()["error"]["message"]
        run = c.get(f"/runs/{r.headers['x-run-id']}").json()
        assert run["status"] == "failed"
        for text in (r.text, json.dumps(run)):
            assert secret not in text
        _, lines = stream_lines(c, "GET", f"/runs/{run['id']}/events?after=0")
        assert secret not in "\n".join(lines)


def test_multi_turn_and_approval_over_http(live_server: LiveServer) -> None:
    with client(live_server) as c:
        wf = publish(c, linear("echo-transcript"))
        session = c.post("/sessions", json={"workflow_id": wf}).json()
        assert set(session) >= {"id", "workflow_id", "title", "created_at"}
        c.post(
            "/run",
            json={
                "workflow_id": wf,
                "session_id": session["id"],
                "input": [{"role": "user", "content": "My name is Alice"}],
            },
        )
        r2 = c.post(
            "/run",
            json={
                "workflow_id": wf,
                "session_id": session["id"],
                "input": [{"role": "user", "content": "What's my name?"}],
            },
        )
        assert "user: My name is Alice" in r2.json()["output"]
        listed = c.get("/sessions", params={"workflow_id": wf}).json()
        assert [s["id"] for s in listed["data"]] == [session["id"]]

        wf2 = publish(c, with_approval())
        paused = c.post(
            "/run", json={"workflow_id": wf2, "input": [{"role": "user", "content": "Deploy v2.1"}]}
        )
        assert paused.status_code == 202
        final = c.post(
            f"/run/{paused.json()['id']}/approve", json={"comment": "Looks good, ship it!"}
        )
        assert final.status_code == 200 and final.json()["output"] == "approved: Deploy v2.1"
