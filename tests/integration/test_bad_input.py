"""Every management route × bad inputs: the right status and envelope, and a database left
exactly as it was (row counts of every table, audit log included)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from chat_platform.store import models


@dataclass(frozen=True)
class R:
    method: str
    path: str  # {pid} {wid} {sid} {sec} {key} placeholders
    body: bool = False  # takes a JSON body
    wrong_type: tuple[dict, str] | None = None  # (body with a mistyped field, that field)
    missing: dict | None = None  # a body lacking a required field
    listing: bool = False  # accepts limit/offset
    ghost: tuple[str, str] | None = None  # (path with an unknown id, expected code)


ROUTES = [
    R("GET", "/api/v1/projects", listing=True),
    R("POST", "/api/v1/projects", body=True, wrong_type=({"name": 1}, "name")),
    R(
        "PUT",
        "/api/v1/projects/{pid}",
        body=True,
        wrong_type=({"enabled": "yes"}, "enabled"),
        ghost=("/api/v1/projects/proj_ghost", "PROJECT_NOT_FOUND"),
    ),
    R(
        "DELETE",
        "/api/v1/projects/{pid}",
        ghost=("/api/v1/projects/proj_ghost", "PROJECT_NOT_FOUND"),
    ),
    R("GET", "/api/v1/workflows", listing=True),
    R(
        "POST",
        "/api/v1/workflows",
        body=True,
        wrong_type=({"projectId": 5}, "projectId"),
        missing={},
    ),
    R("GET", "/api/v1/workflows/{wid}", ghost=("/api/v1/workflows/wf_ghost", "WORKFLOW_NOT_FOUND")),
    R(
        "PUT",
        "/api/v1/workflows/{wid}",
        body=True,
        wrong_type=({"nodes": "[oops"}, "nodes"),
        ghost=("/api/v1/workflows/wf_ghost", "WORKFLOW_NOT_FOUND"),
    ),
    R(
        "DELETE",
        "/api/v1/workflows/{wid}",
        ghost=("/api/v1/workflows/wf_ghost", "WORKFLOW_NOT_FOUND"),
    ),
    R(
        "POST",
        "/api/v1/workflows/{wid}/publish",
        body=True,
        wrong_type=({"edges": 3}, "edges"),
        ghost=("/api/v1/workflows/wf_ghost/publish", "WORKFLOW_NOT_FOUND"),
    ),
    R(
        "GET",
        "/api/v1/workflows/{wid}/versions",
        listing=True,
        ghost=("/api/v1/workflows/wf_ghost/versions", "WORKFLOW_NOT_FOUND"),
    ),
    R(
        "GET",
        "/api/v1/workflows/{wid}/versions/1",
        ghost=("/api/v1/workflows/{wid}/versions/99", "NOT_FOUND"),
    ),
    R(
        "POST",
        "/api/v1/workflows/{wid}/rollback",
        body=True,
        wrong_type=({"version": "1"}, "version"),
        missing={},
        ghost=("/api/v1/workflows/wf_ghost/rollback", "WORKFLOW_NOT_FOUND"),
    ),
    R(
        "GET",
        "/api/v1/projects/{pid}/secrets",
        listing=True,
        ghost=("/api/v1/projects/proj_ghost/secrets", "PROJECT_NOT_FOUND"),
    ),
    R(
        "POST",
        "/api/v1/projects/{pid}/secrets",
        body=True,
        wrong_type=({"name": "N", "value": 1}, "value"),
        missing={"name": "N"},
        ghost=("/api/v1/projects/proj_ghost/secrets", "PROJECT_NOT_FOUND"),
    ),
    R(
        "DELETE",
        "/api/v1/projects/{pid}/secrets/{sec}",
        ghost=("/api/v1/projects/{pid}/secrets/sec_ghost", "NOT_FOUND"),
    ),
    R(
        "GET",
        "/api/v1/workflows/{wid}/secrets",
        listing=True,
        ghost=("/api/v1/workflows/wf_ghost/secrets", "WORKFLOW_NOT_FOUND"),
    ),
    R(
        "POST",
        "/api/v1/workflows/{wid}/secrets",
        body=True,
        wrong_type=({"name": ["N"], "value": "v"}, "name"),
        missing={"value": "v"},
        ghost=("/api/v1/workflows/wf_ghost/secrets", "WORKFLOW_NOT_FOUND"),
    ),
    R(
        "DELETE",
        "/api/v1/workflows/{wid}/secrets/{sec}",
        ghost=("/api/v1/workflows/{wid}/secrets/sec_ghost", "NOT_FOUND"),
    ),
    R(
        "POST",
        "/api/v1/sessions",
        body=True,
        wrong_type=({"workflow_id": 9}, "workflow_id"),
        missing={},
    ),
    R(
        "GET",
        "/api/v1/sessions?workflow_id={wid}",
        listing=True,
        ghost=("/api/v1/sessions?workflow_id=wf_ghost", "WORKFLOW_NOT_FOUND"),
    ),
    R("GET", "/api/v1/sessions/{sid}", ghost=("/api/v1/sessions/sess_ghost", "SESSION_NOT_FOUND")),
    R(
        "DELETE",
        "/api/v1/sessions/{sid}",
        ghost=("/api/v1/sessions/sess_ghost", "SESSION_NOT_FOUND"),
    ),
    R(
        "GET",
        "/api/v1/sessions/{sid}/messages",
        listing=True,
        ghost=("/api/v1/sessions/sess_ghost/messages", "SESSION_NOT_FOUND"),
    ),
    R("GET", "/api/v1/keys", listing=True),
    R("POST", "/api/v1/keys", body=True, wrong_type=({"role": 1}, "role"), missing={}),
    R("DELETE", "/api/v1/keys/{key}", ghost=("/api/v1/keys/key_ghost", "NOT_FOUND")),
    R("POST", "/api/v1/keys/{key}/revoke", ghost=("/api/v1/keys/key_ghost/revoke", "NOT_FOUND")),
    R("GET", "/api/v1/audit", listing=True),
]

TABLES = [
    models.Project,
    models.Workflow,
    models.WorkflowVersion,
    models.Session,
    models.Message,
    models.Secret,
    models.ApiKey,
    models.AuditLog,
]


def _case_id(route: R) -> str:
    return f"{route.method} {route.path}"


@pytest.fixture
async def world(api: httpx.AsyncClient) -> dict[str, str]:
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
    await api.post(f"/api/v1/workflows/{wid}/publish")
    sid = (await api.post("/api/v1/sessions", json={"workflow_id": wid})).json()["id"]
    sec = (
        await api.post(f"/api/v1/projects/{pid}/secrets", json={"name": "S", "value": "v"})
    ).json()["id"]
    await api.post(f"/api/v1/workflows/{wid}/secrets", json={"name": "S", "value": "v"})
    key = (await api.post("/api/v1/keys", json={"role": "viewer"})).json()["id"]
    return {"pid": pid, "wid": wid, "sid": sid, "sec": sec, "key": key}


async def _counts() -> list[int]:
    return [await t.all().count() for t in TABLES]


async def _expect(
    api: httpx.AsyncClient, method: str, path: str, status: int, code: str | None, **kw: object
) -> None:
    before = await _counts()
    r = await api.request(method, path, **kw)  # type: ignore[arg-type]
    assert r.status_code == status, (method, path, r.text)
    err = r.json()["error"]
    assert set(err) == {"code", "message", "request_id"}
    if code is not None:
        assert err["code"] == code, (method, path, err)
    assert err["message"]
    assert err["request_id"] == r.headers["x-request-id"]
    assert await _counts() == before, (method, path)


def _fill(path: str, world: dict[str, str]) -> str:
    return path.format(**world)


JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.mark.parametrize("route", [r for r in ROUTES if r.body], ids=_case_id)
async def test_malformed_json(api: httpx.AsyncClient, world: dict, route: R) -> None:
    path = _fill(route.path, world)
    await _expect(
        api, route.method, path, 400, "INVALID_JSON", content=b'{"name": ', headers=JSON_HEADERS
    )
    await _expect(api, route.method, path, 400, "VALIDATION_ERROR", json=[1, 2])
    await _expect(api, route.method, path, 400, "VALIDATION_ERROR", json="a string")


@pytest.mark.parametrize("route", [r for r in ROUTES if r.wrong_type], ids=_case_id)
async def test_wrong_type(api: httpx.AsyncClient, world: dict, route: R) -> None:
    assert route.wrong_type is not None
    body, field = route.wrong_type
    before = await _counts()
    r = await api.request(route.method, _fill(route.path, world), json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    assert f"'{field}'" in r.json()["error"]["message"]
    assert await _counts() == before


@pytest.mark.parametrize("route", [r for r in ROUTES if r.missing is not None], ids=_case_id)
async def test_missing_field(api: httpx.AsyncClient, world: dict, route: R) -> None:
    await _expect(
        api, route.method, _fill(route.path, world), 400, "MISSING_FIELD", json=route.missing
    )


@pytest.mark.parametrize("route", [r for r in ROUTES if r.body], ids=_case_id)
async def test_oversize_body(api: httpx.AsyncClient, world: dict, route: R) -> None:
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024 + 10) + b'"}'
    await _expect(
        api,
        route.method,
        _fill(route.path, world),
        413,
        "PAYLOAD_TOO_LARGE",
        content=big,
        headers=JSON_HEADERS,
    )


@pytest.mark.parametrize("route", [r for r in ROUTES if r.listing], ids=_case_id)
@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "offset=-1", "offset=1.5"])
async def test_bad_pagination(api: httpx.AsyncClient, world: dict, route: R, query: str) -> None:
    path = _fill(route.path, world)
    path += ("&" if "?" in path else "?") + query
    await _expect(api, route.method, path, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("route", [r for r in ROUTES if r.ghost], ids=_case_id)
async def test_unknown_ids(api: httpx.AsyncClient, world: dict, route: R) -> None:
    assert route.ghost is not None
    path, code = route.ghost
    kw = {"json": {"version": 1}} if route.body else {}
    await _expect(api, route.method, _fill(path, world), 404, code, **kw)


@pytest.mark.parametrize("route", ROUTES, ids=_case_id)
async def test_unauthenticated(api: httpx.AsyncClient, world: dict, route: R) -> None:
    headers = {"Authorization": "Bearer nl_sk_wrong"}
    await _expect(
        api,
        route.method,
        _fill(route.path, world),
        401,
        "INVALID_API_KEY",
        headers=headers,
        json={},
    )
    await _expect(
        api,
        route.method,
        _fill(route.path, world),
        401,
        "INVALID_API_KEY",
        headers={"Authorization": ""},
        json={},
    )


async def test_bad_version_path(api: httpx.AsyncClient, world: dict) -> None:
    for raw in ("abc", "-1", "1.5", "99999999999"):
        await _expect(
            api, "GET", f"/api/v1/workflows/{world['wid']}/versions/{raw}", 400, "VALIDATION_ERROR"
        )


async def test_sessions_list_requires_workflow_id(api: httpx.AsyncClient, world: dict) -> None:
    await _expect(api, "GET", "/api/v1/sessions", 400, "MISSING_FIELD")
