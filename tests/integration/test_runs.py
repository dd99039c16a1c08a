"""POST /run and approvals in-process over a real database: results, statuses, errors,
persistence, sessions as memory, idempotency, racing turns."""

from __future__ import annotations

import asyncio

import httpx

from chat_platform.store.models import Message, Run
from tests.workflows import linear, publish, two_approvals, with_approval

RESULT_KEYS = {"id", "workflow_id", "status", "output", "error", "metadata"}


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


async def test_sync_run_completes_with_spec_shape(api: httpx.AsyncClient) -> None:
    ids = await publish(api, linear())
    r = await api.post(
        "/api/v1/run",
        json={"workflow_id": ids["workflow_id"], "input": user("Summarize the latest news")},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == RESULT_KEYS
    assert body["status"] == "completed" and body["output"] == "Summarize the latest news"
    assert body["error"] is None
    assert r.headers["x-run-id"] == body["id"] and body["id"].startswith("run_")
    assert body["metadata"]["nodesExecuted"] == ["start", "llm_1", "end"]
    assert body["metadata"]["tokens"] == {"input": 4, "output": 4}
    assert isinstance(body["metadata"]["durationMs"], int)
    for h in ("x-quota-limit", "x-quota-remaining", "x-quota-reset", "x-ratelimit-limit"):
        assert h in r.headers
    detail = (await api.get(f"/api/v1/workflows/{ids['workflow_id']}/runs/{body['id']}")).json()
    assert detail["workflow_version"] == 1
    assert detail["input"] == user("Summarize the latest news")
    assert [t["nodeId"] for t in detail["node_trace"]] == ["start", "llm_1", "end"]
    assert detail["completed_at"] and detail["created_at"]
    listed = (await api.get(f"/api/v1/workflows/{ids['workflow_id']}/runs")).json()
    assert [x["id"] for x in listed] == [body["id"]]


async def test_run_errors(api: httpx.AsyncClient) -> None:
    ids = await publish(api, linear())
    wf = ids["workflow_id"]
    cases = [
        ({"input": user("x")}, 400, "MISSING_FIELD"),
        ({"workflow_id": wf}, 400, "MISSING_FIELD"),
        ({"workflow_id": wf, "input": []}, 400, "VALIDATION_ERROR"),
        (
            {"workflow_id": wf, "input": [{"role": "robot", "content": "x"}]},
            400,
            "VALIDATION_ERROR",
        ),
        ({"workflow_id": wf, "input": user("x"), "variables": [1]}, 400, "VALIDATION_ERROR"),
        ({"workflow_id": "wf_missing", "input": user("x")}, 404, "WORKFLOW_NOT_FOUND"),
        ({"workflow_id": wf, "input": user("x"), "version": 9}, 404, "NOT_FOUND"),
        (
            {"workflow_id": wf, "input": user("x"), "session_id": "sess_nope"},
            404,
            "SESSION_NOT_FOUND",
        ),
    ]
    for body, status, code in cases:
        r = await api.post("/api/v1/run", json=body)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), body
    draft = (await api.post("/api/v1/workflows", json={"projectId": ids["project_id"]})).json()
    r = await api.post("/api/v1/run", json={"workflow_id": draft["id"], "input": user("x")})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "WORKFLOW_NOT_PUBLISHED")
    other = await publish(api, linear())
    sess = (await api.post("/api/v1/sessions", json={"workflow_id": other["workflow_id"]})).json()
    r = await api.post(
        "/api/v1/run", json={"workflow_id": wf, "input": user("x"), "session_id": sess["id"]}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (400, "SESSION_WORKFLOW_MISMATCH")
    await api.put(f"/api/v1/workflows/{wf}", json={"status": "paused"})
    r = await api.post("/api/v1/run", json={"workflow_id": wf, "input": user("x")})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "WORKFLOW_PAUSED")
    await api.put(f"/api/v1/workflows/{wf}", json={"status": "live"})
    await api.put(f"/api/v1/projects/{ids['project_id']}", json={"enabled": False})
    r = await api.post("/api/v1/run", json={"workflow_id": wf, "input": user("x")})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "PROJECT_DISABLED")
    assert await Run.all().count() == 0  # nothing rejected was stored


async def test_version_pinning_and_rollback(api: httpx.AsyncClient) -> None:
    ids = await publish(api, linear())
    wf = ids["workflow_id"]
    nodes, edges = linear()
    nodes[2]["data"]["output"] = "v2: {{output}}"
    await api.post(f"/api/v1/workflows/{wf}/publish", json={"nodes": nodes, "edges": edges})
    latest = (await api.post("/api/v1/run", json={"workflow_id": wf, "input": user("hi")})).json()
    pinned = (
        await api.post("/api/v1/run", json={"workflow_id": wf, "input": user("hi"), "version": 1})
    ).json()
    assert (latest["output"], pinned["output"]) == ("v2: hi", "hi")
    rb = (await api.post(f"/api/v1/workflows/{wf}/rollback", json={"version": 1})).json()
    assert rb["version"] == 3
    again = (await api.post("/api/v1/run", json={"workflow_id": wf, "input": user("hi")})).json()
    assert again["output"] == "hi"


async def test_approve_reject_and_conflicts(api: httpx.AsyncClient) -> None:
    wf = (await publish(api, with_approval()))["workflow_id"]
    r = await api.post("/api/v1/run", json={"workflow_id": wf, "input": user("Deploy v2.1")})
    assert r.status_code == 202
    paused = r.json()
    assert paused["status"] == "pending_approval" and paused["output"] is None
    assert paused["approval_prompt"] == "Deploy to production?"
    assert paused["paused_at_node_id"] == "approval-1"
    r = await api.post(
        f"/api/v1/run/{paused['id']}/approve", json={"comment": "Looks good, ship it!"}
    )
    assert r.status_code == 200 and r.json()["output"] == "approved: Deploy v2.1"
    again = await api.post(f"/api/v1/run/{paused['id']}/approve")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "CONFLICT")
    detail = (await api.get(f"/api/v1/runs/{paused['id']}")).json()
    assert detail["approval_comment"] == "Looks good, ship it!"
    assert detail["approval_decision"] == "approved"

    second = (await api.post("/api/v1/run", json={"workflow_id": wf, "input": user("x")})).json()
    r = await api.post(f"/api/v1/run/{second['id']}/reject", json={"comment": "Needs tests"})
    assert r.status_code == 200 and r.json()["output"] == "rejected"

    bad = await api.post("/api/v1/run/not-a-run/approve")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "INVALID_INPUT")
    missing = await api.post("/api/v1/run/run_doesnotexist/approve")
    assert missing.status_code == 404


async def test_a_run_resumed_after_its_events_expired_replays_from_before_the_pause(
    app, api: httpx.AsyncClient
) -> None:
    """Paused longer than the bus keeps a run's channel: the events of the resumed run come
    after the seqs a client saw before the pause (not from 1 again, below its Last-Event-ID)."""
    wf = (await publish(api, with_approval()))["workflow_id"]
    paused = (await api.post("/api/v1/run", json={"workflow_id": wf, "input": user("go")})).json()
    bus = app.state.runtime.bus
    channel = f"run:{paused['id']}"
    seen = await bus.last_seq(channel)
    assert seen > 3
    bus._used[channel] -= bus._ttl_s + 1  # an idle hour: the channel is forgotten
    bus._swept = 0.0
    await bus.publish("session:other", {"type": "tick"})
    assert await bus.last_seq(channel) == 0
    r = await api.post(f"/api/v1/run/{paused['id']}/approve")
    assert r.status_code == 200, r.text
    r = await api.get(f"/api/v1/runs/{paused['id']}/events", headers={"Last-Event-ID": str(seen)})
    assert r.status_code == 200
    events = [
        (int(block.split("id: ")[1].split("\n")[0]), block)
        for block in r.text.split("\n\n")
        if "id: " in block
    ]
    assert "run:resumed" in events[0][1] and "run:result" in events[-1][1]
    assert all(seq > seen for seq, _ in events)


async def test_reject_without_edge_fails_and_pause_again(api: httpx.AsyncClient) -> None:
    wf = (await publish(api, with_approval(reject_edge=False)))["workflow_id"]
    run = (await api.post("/api/v1/run", json={"workflow_id": wf, "input": user("x")})).json()
    r = await api.post(f"/api/v1/run/{run['id']}/reject")
    assert r.status_code == 500
    assert r.json()["error"] == {
        **r.json()["error"],
        "code": "EXECUTION_FAILED",
        "message": "Approval rejected",
    }
    assert (await Run.get(id=run["id"])).status == "failed"

    wf2 = (await publish(api, two_approvals()))["workflow_id"]
    run = (await api.post("/api/v1/run", json={"workflow_id": wf2, "input": user("x")})).json()
    r = await api.post(f"/api/v1/run/{run['id']}/approve")
    assert r.status_code == 202 and r.json()["paused_at_node_id"] == "a2"
    r = await api.post(f"/api/v1/run/{run['id']}/approve")
    assert r.status_code == 200 and r.json()["status"] == "completed"


async def test_concurrent_approvals_exactly_one_wins(api: httpx.AsyncClient) -> None:
    wf = (await publish(api, with_approval()))["workflow_id"]
    run = (await api.post("/api/v1/run", json={"workflow_id": wf, "input": user("x")})).json()
    results = await asyncio.gather(
        *(api.post(f"/api/v1/run/{run['id']}/approve") for _ in range(4))
    )
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]


async def test_session_memory_and_history_budget(api: httpx.AsyncClient) -> None:
    wf = (await publish(api, linear("echo-transcript"), settings={"history": {"max_messages": 2}}))[
        "workflow_id"
    ]
    sess = (await api.post("/api/v1/sessions", json={"workflow_id": wf})).json()["id"]
    first = await api.post(
        "/api/v1/run",
        json={"workflow_id": wf, "session_id": sess, "input": user("My name is Alice")},
    )
    assert first.json()["output"] == "user: My name is Alice"
    second = await api.post(
        "/api/v1/run",
        json={"workflow_id": wf, "session_id": sess, "input": user("What's my name?")},
    )
    assert second.json()["output"].splitlines() == [
        "user: My name is Alice",
        "assistant: user: My name is Alice",
        "user: What's my name?",
    ]
    third = await api.post(
        "/api/v1/run", json={"workflow_id": wf, "session_id": sess, "input": user("Again?")}
    )
    # max_messages 2: only the last two stored messages are prepended
    assert third.json()["output"].splitlines()[0] == "user: What's my name?"
    msgs = (await api.get(f"/api/v1/sessions/{sess}/messages")).json()
    assert [m["role"] for m in msgs["data"]] == ["user", "assistant"] * 3
    assert msgs["pagination"]["total"] == 6


async def test_racing_turns_on_one_session_are_serialized(api: httpx.AsyncClient) -> None:
    wf = (await publish(api, linear(delay_ms=5)))["workflow_id"]
    sess = (await api.post("/api/v1/sessions", json={"workflow_id": wf})).json()["id"]
    texts = [f"turn {i} with several words" for i in range(4)]
    results = await asyncio.gather(
        *(
            api.post("/api/v1/run", json={"workflow_id": wf, "session_id": sess, "input": user(t)})
            for t in texts
        )
    )
    assert all(r.status_code == 200 for r in results)
    rows = await Message.filter(session_id=sess).order_by("created_at", "id")
    roles = [m.role for m in rows]
    assert roles == ["user", "assistant"] * 4
    for question, answer in zip(rows[::2], rows[1::2], strict=True):
        assert answer.content == question.content and answer.run_id == question.run_id


async def test_idempotency_key_returns_the_original_run(api: httpx.AsyncClient) -> None:
    wf = (await publish(api, linear()))["workflow_id"]
    sess = (await api.post("/api/v1/sessions", json={"workflow_id": wf})).json()["id"]
    body = {"workflow_id": wf, "session_id": sess, "input": user("once")}
    h = {"Idempotency-Key": "abc-123"}
    a = await api.post("/api/v1/run", json=body, headers=h)
    b = await api.post("/api/v1/run", json=body, headers=h)
    assert a.status_code == b.status_code == 200
    assert a.json()["id"] == b.json()["id"]
    assert await Run.all().count() == 1
    assert await Message.filter(session_id=sess).count() == 2


async def test_viewer_cannot_run(client: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
    from tests.conftest import make_key

    wf = (await publish(api, linear()))["workflow_id"]
    viewer = await make_key("viewer")
    r = await client.post(
        "/api/v1/run",
        json={"workflow_id": wf, "input": user("x")},
        headers={"Authorization": f"Bearer {viewer}"},
    )
    assert (r.status_code, r.json()["error"]["code"]) == (403, "FORBIDDEN")
