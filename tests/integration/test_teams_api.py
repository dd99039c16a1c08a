"""The integrations API for Teams bots: create/list/get/update/delete, the sealed app password
(never returned), the public Bot Framework / Entra defaults, and scope checks."""

from __future__ import annotations

from typing import Any

import httpx

from chat_platform.ids import new_id
from chat_platform.services.auth import DEFAULT_ACCOUNT_ID
from chat_platform.store.models import Project, TeamsIntegration
from tests.conftest import make_key
from tests.workflows import stored_workflow


def body(workflow_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "app_id": "app-123",
        "app_password": "very-secret-password",
        **extra,
    }


async def test_create_returns_endpoint_and_defaults_and_never_the_password(
    api: httpx.AsyncClient,
) -> None:
    wf = await stored_workflow()
    r = await api.post("/api/v1/integrations/teams", json=body(wf, tenant_id="tenant-9"))
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["id"].startswith("tms_")
    assert data["messaging_endpoint"] == (
        f"http://testserver/api/v1/integrations/teams/{data['id']}/messages"
    )
    assert data["openid_metadata_url"] == (
        "https://login.botframework.com/v1/.well-known/openidconfiguration"
    )
    assert data["token_endpoint"] == (
        "https://login.microsoftonline.com/tenant-9/oauth2/v2.0/token"
    )
    assert data["allowed_tenants"] == [] and data["per_user_sessions"] is False
    assert "app_password" not in data and "very-secret-password" not in r.text
    row = await TeamsIntegration.get(id=data["id"])
    assert row.app_password.startswith("v1:") and "very-secret" not in row.app_password

    for r in (
        await api.get(f"/api/v1/integrations/teams/{data['id']}"),
        await api.get("/api/v1/integrations/teams"),
    ):
        assert r.status_code == 200 and "very-secret-password" not in r.text
    listing = (await api.get("/api/v1/integrations/teams", params={"workflow_id": wf})).json()
    assert [i["id"] for i in listing["data"]] == [data["id"]] and listing["total"] == 1


async def test_multi_tenant_default_token_endpoint_and_overrides(api: httpx.AsyncClient) -> None:
    wf = await stored_workflow()
    r = await api.post("/api/v1/integrations/teams", json=body(wf))
    assert r.json()["token_endpoint"] == (
        "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
    )
    custom = body(
        wf,
        openid_metadata_url="http://127.0.0.1:9/openid",
        token_endpoint="http://127.0.0.1:9/token",
        allowed_tenants=["t1", "t2"],
        per_user_sessions=True,
    )
    data = (await api.post("/api/v1/integrations/teams", json=custom)).json()
    assert data["openid_metadata_url"] == "http://127.0.0.1:9/openid"
    assert data["token_endpoint"] == "http://127.0.0.1:9/token"
    assert data["allowed_tenants"] == ["t1", "t2"] and data["per_user_sessions"] is True


async def test_validation_and_unpublished_workflows(api: httpx.AsyncClient) -> None:
    wf = await stored_workflow()
    r = await api.post("/api/v1/integrations/teams", json={"workflow_id": wf, "app_id": "a"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "MISSING_FIELD"
    r = await api.post("/api/v1/integrations/teams", json=body(wf, token_endpoint="ftp://x"))
    assert r.status_code == 400
    draft = await stored_workflow(published=False)
    r = await api.post("/api/v1/integrations/teams", json=body(draft))
    assert r.status_code == 404 and r.json()["error"]["code"] == "WORKFLOW_NOT_PUBLISHED"
    r = await api.post("/api/v1/integrations/teams", json=body("wf_missing"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"


async def test_update_keeps_the_password_unless_given_and_delete(api: httpx.AsyncClient) -> None:
    wf = await stored_workflow()
    created = (await api.post("/api/v1/integrations/teams", json=body(wf))).json()
    url = f"/api/v1/integrations/teams/{created['id']}"
    sealed = (await TeamsIntegration.get(id=created["id"])).app_password
    r = await api.put(url, json={"app_id": "app-456", "per_user_sessions": True})
    assert r.status_code == 200, r.text
    assert r.json()["app_id"] == "app-456" and r.json()["per_user_sessions"] is True
    assert (await TeamsIntegration.get(id=created["id"])).app_password == sealed
    r = await api.put(url, json={"app_password": "rotated-password"})
    assert r.status_code == 200 and "rotated" not in r.text
    assert (await TeamsIntegration.get(id=created["id"])).app_password != sealed
    assert (await api.delete(url)).status_code == 204
    assert (await api.get(url)).status_code == 404
    assert (await api.delete(url)).status_code == 404


async def test_roles_and_project_scope(api: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    wf = await stored_workflow()
    created = (await api.post("/api/v1/integrations/teams", json=body(wf))).json()
    viewer = {"Authorization": f"Bearer {await make_key('viewer')}"}
    r = await client.post("/api/v1/integrations/teams", json=body(wf), headers=viewer)
    assert r.status_code == 403
    assert (
        await client.get(f"/api/v1/integrations/teams/{created['id']}", headers=viewer)
    ).status_code == 200
    other = new_id("proj")
    await Project.create(id=other, account_id=DEFAULT_ACCOUNT_ID, name="Other")
    scoped = {"Authorization": f"Bearer {await make_key('admin', project_id=other)}"}
    r = await client.get(f"/api/v1/integrations/teams/{created['id']}", headers=scoped)
    assert r.status_code == 404
    listing = (await client.get("/api/v1/integrations/teams", headers=scoped)).json()
    assert listing["data"] == []
    r = await client.post("/api/v1/integrations/teams", json=body(wf), headers=scoped)
    assert r.status_code == 404
