"""Workflows over the real app: CRUD shapes, graph input forms, crew shorthand, pause/resume,
publish / versions / rollback (including concurrent publishes), and scoping."""

from __future__ import annotations

import asyncio
import json
import sys
import types

import httpx
import pytest

from chat_platform.errors import WorkflowDefinitionError
from tests.conftest import make_key

SUMMARY_KEYS = {
    "id",
    "project_id",
    "name",
    "description",
    "version",
    "status",
    "created_at",
    "updated_at",
}
DETAIL_KEYS = SUMMARY_KEYS | {"nodes", "edges", "settings", "crew", "model"}
VERSION_KEYS = {"id", "workflow_id", "version", "published_at"}
NODES = [
    {"id": "start", "type": "start", "data": {}},
    {"id": "end", "type": "end", "data": {"output": "{{output}}"}},
]
EDGES = [{"id": "e1", "source": "start", "target": "end"}]


async def _project(api: httpx.AsyncClient, name: str = "P") -> str:
    return (await api.post("/api/v1/projects", json={"name": name})).json()["id"]


async def test_create_defaults_and_detail(api: httpx.AsyncClient) -> None:
    pid = await _project(api)
    r = await api.post("/api/v1/workflows", json={"projectId": pid})
    assert r.status_code == 201
    wf = r.json()
    assert set(wf) == DETAIL_KEYS
    assert wf["name"] == "Untitled workflow" and wf["description"] == ""
    assert (wf["version"], wf["status"], wf["nodes"], wf["edges"]) == (0, "draft", [], [])
    assert wf["settings"] == {} and wf["crew"] is None and wf["project_id"] == pid
    r = await api.get(f"/api/v1/workflows/{wf['id']}")
    assert r.status_code == 200 and r.json() == wf


async def test_graph_as_array_or_string_and_project_id_alias(api: httpx.AsyncClient) -> None:
    pid = await _project(api)
    r = await api.post(
        "/api/v1/workflows",
        json={
            "project_id": pid,
            "nodes": json.dumps(NODES),
            "edges": EDGES,
            "settings": json.dumps({"history_window": 5}),
        },
    )
    assert r.status_code == 201
    assert r.json()["nodes"] == NODES and r.json()["edges"] == EDGES
    assert r.json()["settings"] == {"history_window": 5}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"nodes": "not json"}, "nodes"),
        ({"nodes": '{"a": 1}'}, "nodes"),
        ({"edges": 7}, "edges"),
        ({"nodes": [1, 2]}, "nodes"),
        ({"nodes": [{"id": str(i)} for i in range(501)]}, "nodes"),
        ({"edges": [{"id": str(i)} for i in range(1001)]}, "edges"),
        ({"settings": "[1]"}, "settings"),
        ({"settings": {"x": "y" * 102_400}}, "settings"),
        ({"name": 12}, "name"),
        ({"description": "d" * 2001}, "description"),
    ],
)
async def test_invalid_definition_fields(api: httpx.AsyncClient, body: dict, field: str) -> None:
    pid = await _project(api)
    r = await api.post("/api/v1/workflows", json={"projectId": pid, **body})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "VALIDATION_ERROR"
    assert f"'{field}" in r.json()["error"]["message"]


async def test_project_id_required_for_account_keys(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/workflows", json={"name": "x"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "MISSING_FIELD"
    r = await api.post("/api/v1/workflows", json={"projectId": "proj_nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "PROJECT_NOT_FOUND"


async def test_project_scoped_key_defaults_project(api: httpx.AsyncClient) -> None:
    pid = await _project(api)
    other = await _project(api, "other")
    headers = {"Authorization": f"Bearer {await make_key('builder', pid)}"}
    r = await api.post("/api/v1/workflows", json={"name": "w"}, headers=headers)
    assert r.status_code == 201 and r.json()["project_id"] == pid
    foreign = (await api.post("/api/v1/workflows", json={"projectId": other})).json()
    r = await api.get(f"/api/v1/workflows/{foreign['id']}", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"
    r = await api.post("/api/v1/workflows", json={"projectId": other}, headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "PROJECT_NOT_FOUND"
    listed = (await api.get("/api/v1/workflows", headers=headers)).json()
    assert [w["project_id"] for w in listed] == [pid]


async def test_list_order_filter_and_pagination(api: httpx.AsyncClient) -> None:
    p1, p2 = await _project(api, "a"), await _project(api, "b")
    ids = []
    for pid in (p1, p2, p1):
        ids.append((await api.post("/api/v1/workflows", json={"projectId": pid})).json()["id"])
    await api.put(f"/api/v1/workflows/{ids[0]}", json={"name": "touched"})
    r = await api.get("/api/v1/workflows")
    assert r.status_code == 200
    assert [w["id"] for w in r.json()] == [ids[0], ids[2], ids[1]]
    assert all(set(w) == SUMMARY_KEYS for w in r.json())
    r = await api.get("/api/v1/workflows", params={"project_id": p1})
    assert [w["id"] for w in r.json()] == [ids[0], ids[2]]
    r = await api.get("/api/v1/workflows", params={"limit": 1, "offset": 1})
    assert [w["id"] for w in r.json()] == [ids[2]]


async def test_crew_shorthand(api: httpx.AsyncClient) -> None:
    pid = await _project(api)
    crew = [
        {"role": "planner", "systemPrompt": "Plan it."},
        {"role": "writer", "systemPrompt": "Write it.", "model": "claude-sonnet-4-6"},
    ]
    r = await api.post(
        "/api/v1/workflows", json={"projectId": pid, "crew": crew, "model": "gpt-4o-mini"}
    )
    assert r.status_code == 201
    wf = r.json()
    assert wf["crew"] == crew and wf["model"] == "gpt-4o-mini"
    assert [n["id"] for n in wf["nodes"]] == ["start", "agent_1", "agent_2", "end"]
    a1, a2 = wf["nodes"][1]["data"], wf["nodes"][2]["data"]
    assert a1 == {
        "label": "planner",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "instructions": "Plan it.",
        "include_history": True,
    }
    assert (a2["provider"], a2["model"], a2["instructions"]) == (
        "anthropic",
        "claude-sonnet-4-6",
        "Write it.",
    )
    assert wf["nodes"][3]["data"]["output"] == "{{output}}"
    assert [(e["source"], e["target"]) for e in wf["edges"]] == [
        ("start", "agent_1"),
        ("agent_1", "agent_2"),
        ("agent_2", "end"),
    ]
    r = await api.post("/api/v1/workflows", json={"projectId": pid, "crew": crew[:1]})
    assert r.json()["nodes"][1]["data"]["provider"] == "echo"


@pytest.mark.parametrize(
    "crew",
    [
        [],
        [{"role": "r", "systemPrompt": "p"}] * 11,
        [{"role": "", "systemPrompt": "p"}],
        [{"role": "r" * 61, "systemPrompt": "p"}],
        [{"role": "r", "systemPrompt": "p" * 8001}],
        [{"role": "r", "systemPrompt": "p", "model": "m" * 81}],
        [{"role": "r"}],
        "not a list",
    ],
)
async def test_crew_validation(api: httpx.AsyncClient, crew: object) -> None:
    pid = await _project(api)
    r = await api.post("/api/v1/workflows", json={"projectId": pid, "crew": crew})
    assert r.status_code == 400
    assert r.json()["error"]["code"] in {"VALIDATION_ERROR", "MISSING_FIELD"}
    assert "crew" in r.json()["error"]["message"]


async def test_pause_and_resume(api: httpx.AsyncClient) -> None:
    pid = await _project(api)
    wf = (
        await api.post("/api/v1/workflows", json={"projectId": pid, "nodes": NODES, "edges": EDGES})
    ).json()
    r = await api.put(f"/api/v1/workflows/{wf['id']}", json={"status": "paused"})
    assert r.status_code == 200 and r.json()["status"] == "paused"
    r = await api.put(f"/api/v1/workflows/{wf['id']}", json={"status": "active"})
    assert r.json()["status"] == "draft"  # never published: resuming restores draft
    await api.post(f"/api/v1/workflows/{wf['id']}/publish")
    await api.put(f"/api/v1/workflows/{wf['id']}", json={"status": "paused"})
    r = await api.put(f"/api/v1/workflows/{wf['id']}", json={"status": "live"})
    assert r.json()["status"] == "live"
    r = await api.put(f"/api/v1/workflows/{wf['id']}", json={"status": "archived"})
    assert r.status_code == 400 and "status" in r.json()["error"]["message"]


async def test_update_fields(api: httpx.AsyncClient) -> None:
    pid = await _project(api)
    wf = (await api.post("/api/v1/workflows", json={"projectId": pid})).json()
    r = await api.put(
        f"/api/v1/workflows/{wf['id']}",
        json={
            "name": "N",
            "description": "D",
            "nodes": json.dumps(NODES),
            "edges": json.dumps(EDGES),
            "settings": '{"a": 1}',
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert (body["name"], body["description"], body["nodes"], body["edges"], body["settings"]) == (
        "N",
        "D",
        NODES,
        EDGES,
        {"a": 1},
    )
    assert (await api.get(f"/api/v1/workflows/{wf['id']}")).json() == body


async def test_publish_versions_rollback(api: httpx.AsyncClient) -> None:
    pid = await _project(api)
    wf = (
        await api.post("/api/v1/workflows", json={"projectId": pid, "nodes": NODES, "edges": EDGES})
    ).json()
    wid = wf["id"]
    r = await api.post(f"/api/v1/workflows/{wid}/publish")
    assert r.status_code == 200 and r.json() == {"version": 1, "status": "live"}
    nodes2 = [*NODES, {"id": "extra", "type": "transform", "data": {"mappings": []}}]
    r = await api.post(f"/api/v1/workflows/{wid}/publish", json={"nodes": json.dumps(nodes2)})
    assert r.json() == {"version": 2, "status": "live"}
    detail = (await api.get(f"/api/v1/workflows/{wid}")).json()
    assert (detail["version"], detail["status"], detail["nodes"]) == (2, "live", nodes2)

    r = await api.get(f"/api/v1/workflows/{wid}/versions")
    assert r.status_code == 200
    assert [v["version"] for v in r.json()] == [2, 1]
    assert all(set(v) == VERSION_KEYS and v["workflow_id"] == wid for v in r.json())
    r = await api.get(f"/api/v1/workflows/{wid}/versions", params={"limit": 1, "offset": 1})
    assert [v["version"] for v in r.json()] == [1]

    r = await api.get(f"/api/v1/workflows/{wid}/versions/1")
    assert r.status_code == 200
    assert set(r.json()) == VERSION_KEYS | {"nodes", "edges", "settings"}
    assert (r.json()["nodes"], r.json()["edges"]) == (NODES, EDGES)
    r = await api.get(f"/api/v1/workflows/{wid}/versions/abc")
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    r = await api.get(f"/api/v1/workflows/{wid}/versions/9")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"

    await api.put(f"/api/v1/workflows/{wid}", json={"status": "paused"})
    r = await api.post(f"/api/v1/workflows/{wid}/rollback", json={"version": 1})
    assert r.status_code == 200
    assert r.json() == {"version": 3, "status": "live", "rolled_back_from": 1}
    detail = (await api.get(f"/api/v1/workflows/{wid}")).json()
    assert (detail["version"], detail["status"], detail["nodes"]) == (3, "live", NODES)
    v3 = (await api.get(f"/api/v1/workflows/{wid}/versions/3")).json()
    assert v3["nodes"] == NODES
    r = await api.post(f"/api/v1/workflows/{wid}/rollback", json={"version": 7})
    assert r.status_code == 404
    r = await api.post(f"/api/v1/workflows/{wid}/rollback", json={"version": "1"})
    assert r.status_code == 400 and "version" in r.json()["error"]["message"]
    r = await api.post(f"/api/v1/workflows/{wid}/rollback", json={})
    assert r.status_code == 400 and r.json()["error"]["code"] == "MISSING_FIELD"


async def test_publish_empty_graph_is_invalid(api: httpx.AsyncClient) -> None:
    pid = await _project(api)
    wf = (await api.post("/api/v1/workflows", json={"projectId": pid})).json()
    r = await api.post(f"/api/v1/workflows/{wf['id']}/publish")
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_WORKFLOW"
    assert (await api.get(f"/api/v1/workflows/{wf['id']}/versions")).json() == []


async def test_publish_reports_engine_errors_with_node_id(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = types.ModuleType("chat_platform.engine.definition")

    def compile_workflow(nodes: list, edges: list) -> None:
        raise WorkflowDefinitionError("edge points to an unknown node", node_id="ghost")

    fake.compile_workflow = compile_workflow  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "chat_platform.engine.definition", fake)
    pid = await _project(api)
    wf = (
        await api.post("/api/v1/workflows", json={"projectId": pid, "nodes": NODES, "edges": EDGES})
    ).json()
    r = await api.post(f"/api/v1/workflows/{wf['id']}/publish")
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_WORKFLOW"
    assert "ghost" in r.json()["error"]["message"]
    detail = (await api.get(f"/api/v1/workflows/{wf['id']}")).json()
    assert (detail["version"], detail["status"]) == (0, "draft")


async def test_concurrent_publishes_get_unique_versions(api: httpx.AsyncClient) -> None:
    pid = await _project(api)
    wf = (
        await api.post("/api/v1/workflows", json={"projectId": pid, "nodes": NODES, "edges": EDGES})
    ).json()
    results = await asyncio.gather(
        *(api.post(f"/api/v1/workflows/{wf['id']}/publish") for _ in range(6))
    )
    assert [r.status_code for r in results] == [200] * 6
    assert sorted(r.json()["version"] for r in results) == [1, 2, 3, 4, 5, 6]
    versions = (await api.get(f"/api/v1/workflows/{wf['id']}/versions")).json()
    assert [v["version"] for v in versions] == [6, 5, 4, 3, 2, 1]


async def test_delete(api: httpx.AsyncClient) -> None:
    pid = await _project(api)
    wf = (await api.post("/api/v1/workflows", json={"projectId": pid})).json()
    r = await api.delete(f"/api/v1/workflows/{wf['id']}")
    assert r.status_code == 204
    r = await api.delete(f"/api/v1/workflows/{wf['id']}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"
