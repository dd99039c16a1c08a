"""The audit log: exactly the spec's actions, written by the services, listed newest first."""

from __future__ import annotations

import httpx

from tests.conftest import make_key

ENTRY_KEYS = {"id", "action", "resource_type", "resource_id", "actor_key_id", "created_at"}


async def test_actions_are_recorded(api: httpx.AsyncClient) -> None:
    pid = (await api.post("/api/v1/projects", json={})).json()["id"]
    wf = (
        await api.post(
            "/api/v1/workflows",
            json={
                "projectId": pid,
                "nodes": [
                    {"id": "start", "type": "start", "data": {}},
                    {"id": "end", "type": "end", "data": {"output": "{{output}}"}},
                ],
                "edges": [{"id": "e", "source": "start", "target": "end"}],
            },
        )
    ).json()
    wid = wf["id"]
    await api.get(f"/api/v1/workflows/{wid}")  # reads are not audited
    await api.put(f"/api/v1/workflows/{wid}", json={"name": "n"})
    await api.post(f"/api/v1/workflows/{wid}/publish")
    await api.post(f"/api/v1/workflows/{wid}/rollback", json={"version": 1})
    sec = await api.post(f"/api/v1/projects/{pid}/secrets", json={"name": "A", "value": "v"})
    await api.get(f"/api/v1/projects/{pid}/secrets")
    await api.delete(f"/api/v1/projects/{pid}/secrets/{sec.json()['id']}")
    await api.delete(f"/api/v1/workflows/{wid}")
    await api.put(f"/api/v1/projects/{pid}", json={"enabled": False})
    await api.delete(f"/api/v1/projects/{pid}")

    r = await api.get("/api/v1/audit")
    assert r.status_code == 200
    entries = r.json()
    assert all(set(e) == ENTRY_KEYS for e in entries)
    assert [(e["action"], e["resource_type"]) for e in entries] == [
        ("project.delete", "Project"),
        ("project.update", "Project"),
        ("workflow.delete", "Workflow"),
        ("secret.delete", "Secret"),
        ("secret.read", "Secret"),
        ("secret.create", "Secret"),
        ("workflow.rollback", "Workflow"),
        ("workflow.publish", "Workflow"),
        ("workflow.update", "Workflow"),
    ]
    assert entries[0]["resource_id"] == pid and entries[2]["resource_id"] == wid
    assert entries[3]["resource_id"] == sec.json()["id"]
    actor = {e["actor_key_id"] for e in entries}
    assert len(actor) == 1 and next(iter(actor)).startswith("key_")
    r = await api.get("/api/v1/audit", params={"limit": 2, "offset": 1})
    assert [e["action"] for e in r.json()] == ["project.update", "workflow.delete"]


async def test_rejected_requests_write_no_audit(api: httpx.AsyncClient) -> None:
    pid = (await api.post("/api/v1/projects", json={})).json()["id"]
    viewer = {"Authorization": f"Bearer {await make_key('viewer')}"}
    await api.put(f"/api/v1/projects/{pid}", json={"name": "x"}, headers=viewer)
    await api.put(f"/api/v1/projects/{pid}", json={"name": 3})
    await api.post(f"/api/v1/projects/{pid}/secrets", json={"name": "1x", "value": "v"})
    assert (await api.get("/api/v1/audit")).json() == []
