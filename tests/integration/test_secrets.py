"""Secrets at project and workflow scope: sealed at rest, never returned, limits, conflicts."""

from __future__ import annotations

import httpx
import pytest

from chat_platform.store.models import Secret
from chat_platform.store.sealing import Sealer, secret_context
from tests.conftest import TEST_SECRET_KEY, make_key


async def _scopes(api: httpx.AsyncClient) -> tuple[str, str]:
    pid = (await api.post("/api/v1/projects", json={})).json()["id"]
    wid = (await api.post("/api/v1/workflows", json={"projectId": pid})).json()["id"]
    return pid, wid


@pytest.mark.parametrize("kind", ["projects", "workflows"])
async def test_create_list_delete(api: httpx.AsyncClient, kind: str) -> None:
    pid, wid = await _scopes(api)
    rid = pid if kind == "projects" else wid
    base = f"/api/v1/{kind}/{rid}/secrets"
    r = await api.post(base, json={"name": "OPENAI_API_KEY", "value": "sk-very-secret"})
    assert r.status_code == 201
    assert set(r.json()) == {"id", "name"} and r.json()["name"] == "OPENAI_API_KEY"
    sid = r.json()["id"]
    assert sid.startswith("sec_")
    r = await api.get(base)
    assert r.status_code == 200
    assert [set(s) for s in r.json()] == [{"id", "name", "created_at"}]
    assert "sk-very-secret" not in r.text

    row = await Secret.get(id=sid)
    assert "sk-very-secret" not in row.ciphertext
    context = secret_context(
        project_id=pid if kind == "projects" else None,
        workflow_id=wid if kind == "workflows" else None,
        name="OPENAI_API_KEY",
    )
    assert Sealer(TEST_SECRET_KEY).open(row.ciphertext, context=context) == "sk-very-secret"

    r = await api.post(base, json={"name": "OPENAI_API_KEY", "value": "other"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"
    assert (await api.delete(f"{base}/{sid}")).status_code == 204
    r = await api.delete(f"{base}/{sid}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    assert (await api.get(base)).json() == []


async def test_same_name_in_other_scope_is_fine_and_delete_is_scope_bound(
    api: httpx.AsyncClient,
) -> None:
    pid, wid = await _scopes(api)
    a = await api.post(f"/api/v1/projects/{pid}/secrets", json={"name": "K", "value": "1"})
    b = await api.post(f"/api/v1/workflows/{wid}/secrets", json={"name": "K", "value": "2"})
    assert (a.status_code, b.status_code) == (201, 201)
    r = await api.delete(f"/api/v1/workflows/{wid}/secrets/{a.json()['id']}")
    assert r.status_code == 404
    assert await Secret.all().count() == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "1BAD", "value": "v"}, "VALIDATION_ERROR"),
        ({"name": "has-dash", "value": "v"}, "VALIDATION_ERROR"),
        ({"name": "A" * 129, "value": "v"}, "VALIDATION_ERROR"),
        ({"name": "OK", "value": "é" * 5121}, "VALIDATION_ERROR"),
        ({"name": "OK", "value": 5}, "VALIDATION_ERROR"),
        ({"name": "OK"}, "MISSING_FIELD"),
        ({"value": "v"}, "MISSING_FIELD"),
    ],
)
async def test_invalid_secret(api: httpx.AsyncClient, body: dict, code: str) -> None:
    pid, _ = await _scopes(api)
    r = await api.post(f"/api/v1/projects/{pid}/secrets", json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == code
    assert await Secret.all().count() == 0


async def test_limits(api: httpx.AsyncClient) -> None:
    pid, _ = await _scopes(api)
    base = f"/api/v1/projects/{pid}/secrets"
    assert (await api.post(base, json={"name": "A" * 128, "value": "x" * 10240})).status_code == 201
    await Secret.bulk_create(
        [
            Secret(
                id=f"sec_bulk{i}",
                project_id=pid,
                scope=f"project:{pid}",
                name=f"S{i}",
                ciphertext="v1:",
            )
            for i in range(199)
        ]
    )
    r = await api.post(base, json={"name": "ONE_TOO_MANY", "value": "v"})
    assert r.status_code == 400 and "200" in r.json()["error"]["message"]
    assert len((await api.get(base, params={"limit": 100})).json()) == 100


async def test_roles_and_scope(api: httpx.AsyncClient) -> None:
    pid, _ = await _scopes(api)
    other, _ = await _scopes(api)
    base = f"/api/v1/projects/{pid}/secrets"
    for role, status in (("builder", 201), ("operator", 403), ("viewer", 403)):
        headers = {"Authorization": f"Bearer {await make_key(role)}"}
        r = await api.post(base, json={"name": f"K_{role}", "value": "v"}, headers=headers)
        assert r.status_code == status
        assert (await api.get(base, headers=headers)).status_code == (200 if status == 201 else 403)
    headers = {"Authorization": f"Bearer {await make_key('builder', pid)}"}
    r = await api.get(f"/api/v1/projects/{other}/secrets", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "PROJECT_NOT_FOUND"
