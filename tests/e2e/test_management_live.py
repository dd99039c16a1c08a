"""Management flows against a real `chat-platform serve` process over loopback HTTP: project →
workflow (crew) → publish → versions → rollback, secrets, sessions, keys and the audit log."""

from __future__ import annotations

import json

import httpx

from tests.conftest import LiveServer


def _client(server: LiveServer, key: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url + "/api/v1",
        headers={"Authorization": f"Bearer {key or server.admin_key}"},
        timeout=10,
    )


def test_workflow_lifecycle_over_http(live_server: LiveServer) -> None:
    with _client(live_server) as api:
        project = api.post("/projects", json={"name": "Live"})
        assert project.status_code == 201
        pid = project.json()["id"]
        crew = [{"role": "writer", "systemPrompt": "Write."}]
        wf = api.post("/workflows", json={"projectId": pid, "name": "W", "crew": crew})
        assert wf.status_code == 201
        wid = wf.json()["id"]
        assert [n["type"] for n in wf.json()["nodes"]] == ["start", "agent", "end"]
        assert api.post(f"/workflows/{wid}/publish").json() == {"version": 1, "status": "live"}
        nodes = wf.json()["nodes"]
        r = api.post(f"/workflows/{wid}/publish", json={"nodes": json.dumps(nodes)})
        assert r.json()["version"] == 2
        assert [v["version"] for v in api.get(f"/workflows/{wid}/versions").json()] == [2, 1]
        r = api.post(f"/workflows/{wid}/rollback", json={"version": 1})
        assert r.json() == {"version": 3, "status": "live", "rolled_back_from": 1}
        listed = api.get("/workflows", params={"project_id": pid}).json()
        assert [(w["id"], w["version"], w["status"]) for w in listed] == [(wid, 3, "live")]

        r = api.post(f"/workflows/{wid}/secrets", json={"name": "TOKEN", "value": "s3cr3t"})
        assert r.status_code == 201
        r = api.get(f"/workflows/{wid}/secrets")
        assert [s["name"] for s in r.json()] == ["TOKEN"] and "s3cr3t" not in r.text

        sess = api.post("/sessions", json={"workflow_id": wid, "title": "Hi"})
        assert sess.status_code == 201
        page = api.get("/sessions", params={"workflow_id": wid}).json()
        assert [s["id"] for s in page["data"]] == [sess.json()["id"]]
        assert page["pagination"] == {"total": 1, "limit": 50, "offset": 0, "has_more": False}
        msgs = api.get(f"/sessions/{sess.json()['id']}/messages").json()
        assert msgs == {
            "data": [],
            "pagination": {"total": 0, "limit": 100, "offset": 0, "has_more": False},
        }

        actions = [e["action"] for e in api.get("/audit").json()]
        assert actions[:5] == [
            "secret.read",
            "secret.create",
            "workflow.rollback",
            "workflow.publish",
            "workflow.publish",
        ]


def test_keys_and_errors_over_http(live_server: LiveServer) -> None:
    with _client(live_server) as api:
        created = api.post("/keys", json={"role": "viewer", "name": "ro"})
        assert created.status_code == 201
        raw = created.json()["key"]
        with _client(live_server, raw) as viewer:
            assert viewer.get("/projects").status_code == 200
            r = viewer.post("/projects", json={})
            assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
        assert api.delete(f"/keys/{created.json()['id']}").status_code == 200
        with _client(live_server, raw) as viewer:
            r = viewer.get("/projects")
            assert r.status_code == 401 and r.json()["error"]["code"] == "API_KEY_REVOKED"

        r = api.post("/projects", content=b"{nope", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_JSON"
        assert r.json()["error"]["request_id"] == r.headers["x-request-id"]
        r = api.post("/projects", content=b"x" * (2 * 1024 * 1024 + 1))
        assert r.status_code == 413
        r = api.get("/workflows/wf_missing")
        assert r.status_code == 404 and r.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"
