"""Projects over the real app: shapes, pagination, scoping, roles, update/delete and cascade."""

from __future__ import annotations

import httpx

from tests.conftest import make_key

PROJECT_KEYS = {"id", "name", "enabled", "created_at", "updated_at"}


async def test_create_list_update_delete(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/projects", json={})
    assert r.status_code == 201
    created = r.json()
    assert set(created) == PROJECT_KEYS
    assert created["name"] == "New project" and created["enabled"] is True
    assert created["id"].startswith("proj_") and created["created_at"].endswith("Z")

    r = await api.post("/api/v1/projects", json={"name": "Second"})
    second = r.json()
    r = await api.get("/api/v1/projects")
    assert r.status_code == 200
    assert [p["id"] for p in r.json()] == [created["id"], second["id"]]
    r = await api.get("/api/v1/projects", params={"limit": 1, "offset": 1})
    assert [p["id"] for p in r.json()] == [second["id"]]

    r = await api.put(
        f"/api/v1/projects/{second['id']}", json={"name": "Renamed", "enabled": False}
    )
    assert r.status_code == 200
    assert r.json()["name"] == "Renamed" and r.json()["enabled"] is False
    assert set(r.json()) == PROJECT_KEYS

    r = await api.delete(f"/api/v1/projects/{second['id']}")
    assert r.status_code == 204 and r.content == b""
    r = await api.put(f"/api/v1/projects/{second['id']}", json={"name": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "PROJECT_NOT_FOUND"


async def test_delete_cascades(api: httpx.AsyncClient) -> None:
    project = (await api.post("/api/v1/projects", json={"name": "P"})).json()
    wf = (await api.post("/api/v1/workflows", json={"projectId": project["id"]})).json()
    sess = (await api.post("/api/v1/sessions", json={"workflow_id": wf["id"]})).json()
    await api.post(f"/api/v1/projects/{project['id']}/secrets", json={"name": "A", "value": "v"})
    assert (await api.delete(f"/api/v1/projects/{project['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/workflows/{wf['id']}")).status_code == 404
    r = await api.get(f"/api/v1/sessions/{sess['id']}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "SESSION_NOT_FOUND"
    from chat_platform.store.models import Secret

    assert await Secret.all().count() == 0


async def test_project_scoped_key_sees_only_its_project(api: httpx.AsyncClient) -> None:
    mine = (await api.post("/api/v1/projects", json={"name": "Mine"})).json()
    other = (await api.post("/api/v1/projects", json={"name": "Other"})).json()
    key = await make_key("admin", mine["id"])
    headers = {"Authorization": f"Bearer {key}"}
    r = await api.get("/api/v1/projects", headers=headers)
    assert [p["id"] for p in r.json()] == [mine["id"]]
    r = await api.put(f"/api/v1/projects/{other['id']}", json={"name": "x"}, headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "PROJECT_NOT_FOUND"
    r = await api.post("/api/v1/projects", json={"name": "New"}, headers=headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"


async def test_only_admin_writes_projects(api: httpx.AsyncClient) -> None:
    project = (await api.post("/api/v1/projects", json={})).json()
    for role in ("builder", "operator", "viewer"):
        headers = {"Authorization": f"Bearer {await make_key(role)}"}
        assert (await api.get("/api/v1/projects", headers=headers)).status_code == 200
        r = await api.post("/api/v1/projects", json={}, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
        r = await api.put(f"/api/v1/projects/{project['id']}", json={}, headers=headers)
        assert r.status_code == 403
        r = await api.delete(f"/api/v1/projects/{project['id']}", headers=headers)
        assert r.status_code == 403


async def test_name_limits(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/projects", json={"name": "x" * 200})
    assert r.status_code == 201
    r = await api.post("/api/v1/projects", json={"name": "x" * 201})
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "name" in r.json()["error"]["message"]
