"""Sessions: create, list per workflow (newest activity first), get, delete, messages pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from chat_platform.store.models import Message, Session
from tests.conftest import make_key

SESSION_KEYS = {"id", "workflow_id", "title", "created_at", "updated_at"}
PAGINATION_KEYS = {"total", "limit", "offset", "has_more"}


async def _workflow(api: httpx.AsyncClient) -> str:
    pid = (await api.post("/api/v1/projects", json={})).json()["id"]
    return (await api.post("/api/v1/workflows", json={"projectId": pid})).json()["id"]


async def test_create_get_delete(api: httpx.AsyncClient) -> None:
    wid = await _workflow(api)
    r = await api.post("/api/v1/sessions", json={"workflow_id": wid})
    assert r.status_code == 201
    s = r.json()
    assert set(s) == SESSION_KEYS and s["title"] == "New chat" and s["workflow_id"] == wid
    assert s["id"].startswith("sess_")
    assert (await api.get(f"/api/v1/sessions/{s['id']}")).json() == s
    assert (await api.delete(f"/api/v1/sessions/{s['id']}")).status_code == 204
    r = await api.get(f"/api/v1/sessions/{s['id']}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "SESSION_NOT_FOUND"
    r = await api.post("/api/v1/sessions", json={"workflow_id": "wf_nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"
    r = await api.post("/api/v1/sessions", json={"workflow_id": wid, "title": "t" * 201})
    assert r.status_code == 400 and "title" in r.json()["error"]["message"]


async def test_list_sessions_order_and_pagination(api: httpx.AsyncClient) -> None:
    wid, other = await _workflow(api), await _workflow(api)
    ids = []
    for i in range(3):
        r = await api.post("/api/v1/sessions", json={"workflow_id": wid, "title": f"s{i}"})
        ids.append(r.json()["id"])
    await api.post("/api/v1/sessions", json={"workflow_id": other})
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for offset_minutes, sid in ((3, ids[1]), (2, ids[0]), (1, ids[2])):
        await Session.filter(id=sid).update(updated_at=base + timedelta(minutes=offset_minutes))
    r = await api.get("/api/v1/sessions", params={"workflow_id": wid})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"data", "pagination"}
    assert [s["id"] for s in body["data"]] == [ids[1], ids[0], ids[2]]
    assert body["pagination"] == {"total": 3, "limit": 50, "offset": 0, "has_more": False}
    r = await api.get("/api/v1/sessions", params={"workflow_id": wid, "limit": 2})
    assert [s["id"] for s in r.json()["data"]] == [ids[1], ids[0]]
    assert r.json()["pagination"] == {"total": 3, "limit": 2, "offset": 0, "has_more": True}
    r = await api.get("/api/v1/sessions", params={"workflow_id": wid, "limit": 500, "offset": 2})
    assert r.json()["pagination"] == {"total": 3, "limit": 100, "offset": 2, "has_more": False}
    r = await api.get("/api/v1/sessions")
    assert r.status_code == 400 and r.json()["error"]["code"] == "MISSING_FIELD"
    r = await api.get("/api/v1/sessions", params={"workflow_id": "wf_nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"


async def test_messages_chronological_pages(api: httpx.AsyncClient) -> None:
    wid = await _workflow(api)
    sid = (await api.post("/api/v1/sessions", json={"workflow_id": wid})).json()["id"]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(5):
        await Message.create(
            id=f"msg_{i}",
            session_id=sid,
            role="user" if i % 2 == 0 else "assistant",
            content=f"m{i}",
        )
        await Message.filter(id=f"msg_{i}").update(created_at=base + timedelta(seconds=10 - i))
    r = await api.get(f"/api/v1/sessions/{sid}/messages")
    assert r.status_code == 200
    data = r.json()["data"]
    assert [m["content"] for m in data] == ["m4", "m3", "m2", "m1", "m0"]
    assert {"id", "session_id", "role", "content", "type", "created_at"} <= set(data[0])
    assert data[0]["type"] == "text" and data[0]["session_id"] == sid
    assert r.json()["pagination"] == {"total": 5, "limit": 100, "offset": 0, "has_more": False}
    r = await api.get(f"/api/v1/sessions/{sid}/messages", params={"limit": 2, "offset": 2})
    assert [m["content"] for m in r.json()["data"]] == ["m2", "m1"]
    assert r.json()["pagination"] == {"total": 5, "limit": 2, "offset": 2, "has_more": True}
    r = await api.get(f"/api/v1/sessions/{sid}/messages", params={"limit": 1000})
    assert r.json()["pagination"]["limit"] == 200
    r = await api.get("/api/v1/sessions/sess_nope/messages")
    assert r.status_code == 404 and r.json()["error"]["code"] == "SESSION_NOT_FOUND"


async def test_roles_and_scope(api: httpx.AsyncClient) -> None:
    wid = await _workflow(api)
    sid = (await api.post("/api/v1/sessions", json={"workflow_id": wid})).json()["id"]
    viewer = {"Authorization": f"Bearer {await make_key('viewer')}"}
    operator = {"Authorization": f"Bearer {await make_key('operator')}"}
    assert (await api.get(f"/api/v1/sessions/{sid}/messages", headers=viewer)).status_code == 200
    r = await api.post("/api/v1/sessions", json={"workflow_id": wid}, headers=viewer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    assert (await api.delete(f"/api/v1/sessions/{sid}", headers=viewer)).status_code == 403
    r = await api.post("/api/v1/sessions", json={"workflow_id": wid}, headers=operator)
    assert r.status_code == 201
    pid = (await api.post("/api/v1/projects", json={})).json()["id"]
    scoped = {"Authorization": f"Bearer {await make_key('admin', pid)}"}
    r = await api.get(f"/api/v1/sessions/{sid}", headers=scoped)
    assert r.status_code == 404 and r.json()["error"]["code"] == "SESSION_NOT_FOUND"
