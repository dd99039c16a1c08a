"""API keys (create once-shown, list without secrets, revoke) and the role table end to end."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import make_key

KEY_VIEW = {
    "id",
    "name",
    "role",
    "project_id",
    "prefix",
    "created_at",
    "last_used_at",
    "revoked_at",
}


async def test_create_list_revoke(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/keys", json={"role": "viewer", "name": "ci"})
    assert r.status_code == 201
    created = r.json()
    assert set(created) == KEY_VIEW | {"key"}
    raw = created["key"]
    assert raw.startswith("nl_sk_") and created["role"] == "viewer" and created["name"] == "ci"
    headers = {"Authorization": f"Bearer {raw}"}
    assert (await api.get("/api/v1/projects", headers=headers)).status_code == 200

    r = await api.get("/api/v1/keys")
    assert r.status_code == 200
    assert all(set(k) == KEY_VIEW for k in r.json())
    assert raw not in r.text and created["id"] in [k["id"] for k in r.json()]

    r = await api.delete(f"/api/v1/keys/{created['id']}")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = await api.get("/api/v1/projects", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "API_KEY_REVOKED"

    other = (await api.post("/api/v1/keys", json={"role": "builder"})).json()
    r = await api.post(f"/api/v1/keys/{other['id']}/revoke")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = await api.delete("/api/v1/keys/key_nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"


async def test_key_validation(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/keys", json={"role": "root"})
    assert r.status_code == 400 and "role" in r.json()["error"]["message"]
    r = await api.post("/api/v1/keys", json={})
    assert r.status_code == 400 and r.json()["error"]["code"] == "MISSING_FIELD"
    r = await api.post("/api/v1/keys", json={"role": "admin", "project_id": "proj_nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "PROJECT_NOT_FOUND"


async def test_project_scoped_admin_manages_only_its_project(api: httpx.AsyncClient) -> None:
    mine = (await api.post("/api/v1/projects", json={})).json()["id"]
    other = (await api.post("/api/v1/projects", json={})).json()["id"]
    scoped = {"Authorization": f"Bearer {await make_key('admin', mine)}"}
    r = await api.post("/api/v1/keys", json={"role": "viewer"}, headers=scoped)
    assert r.status_code == 201 and r.json()["project_id"] == mine
    r = await api.post("/api/v1/keys", json={"role": "viewer", "project_id": other}, headers=scoped)
    assert r.status_code == 403
    foreign = (await api.post("/api/v1/keys", json={"role": "viewer", "project_id": other})).json()
    listed = (await api.get("/api/v1/keys", headers=scoped)).json()
    assert {k["project_id"] for k in listed} == {mine}
    r = await api.delete(f"/api/v1/keys/{foreign['id']}", headers=scoped)
    assert r.status_code == 404


@pytest.mark.parametrize("role", ["builder", "operator", "viewer"])
async def test_non_admins_cannot_manage_keys_or_read_audit(
    api: httpx.AsyncClient, role: str
) -> None:
    headers = {"Authorization": f"Bearer {await make_key(role)}"}
    for method, path in (
        ("GET", "/api/v1/keys"),
        ("POST", "/api/v1/keys"),
        ("DELETE", "/api/v1/keys/key_x"),
        ("GET", "/api/v1/audit"),
    ):
        r = await api.request(method, path, headers=headers, json={"role": "admin"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"


# (role, method, path template, body, allowed)
MATRIX = [
    ("GET", "/api/v1/workflows/{wid}", None, {"admin", "builder", "operator", "viewer"}),
    ("GET", "/api/v1/workflows/{wid}/versions", None, {"admin", "builder", "operator", "viewer"}),
    ("GET", "/api/v1/projects", None, {"admin", "builder", "operator", "viewer"}),
    ("PUT", "/api/v1/workflows/{wid}", {"name": "x"}, {"admin", "builder"}),
    ("POST", "/api/v1/workflows", {"projectId": "{pid}"}, {"admin", "builder"}),
    ("POST", "/api/v1/workflows/{wid}/publish", {}, {"admin", "builder"}),
    ("GET", "/api/v1/workflows/{wid}/secrets", None, {"admin", "builder"}),
    ("POST", "/api/v1/sessions", {"workflow_id": "{wid}"}, {"admin", "builder", "operator"}),
    ("PUT", "/api/v1/projects/{pid}", {"name": "x"}, {"admin"}),
]


@pytest.mark.parametrize("role", ["admin", "builder", "operator", "viewer"])
async def test_role_matrix(api: httpx.AsyncClient, role: str) -> None:
    pid = (await api.post("/api/v1/projects", json={})).json()["id"]
    wid = (
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
    ).json()["id"]
    headers = {"Authorization": f"Bearer {await make_key(role)}"}
    for method, template, body, allowed in MATRIX:
        path = template.format(pid=pid, wid=wid)
        payload = {k: v.format(pid=pid, wid=wid) for k, v in body.items()} if body else None
        r = await api.request(method, path, headers=headers, json=payload)
        if role in allowed:
            assert r.status_code in (200, 201), (method, path, r.text)
        else:
            assert r.status_code == 403, (method, path)
            assert r.json()["error"]["code"] == "FORBIDDEN"
