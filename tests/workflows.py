"""Workflow graphs shared by the tests, and helpers to create + publish one (through the API,
or straight to the store)."""

from __future__ import annotations

from typing import Any

import httpx

from chat_platform.ids import new_id
from chat_platform.services.auth import DEFAULT_ACCOUNT_ID
from chat_platform.store.models import Project, Workflow, WorkflowVersion


def echo_graph(delay_ms: int = 0) -> dict[str, Any]:
    """start → echo agent (with the session's history) → end; `delay_ms` between words."""
    agent = {"label": "Echo", "provider": "echo", "model": "echo", "include_history": True}
    if delay_ms:
        agent["delay_ms"] = delay_ms
    return {
        "nodes": [
            {"id": "start", "type": "start", "data": {"label": "Start"}},
            {"id": "agent_1", "type": "agent", "data": agent},
            {"id": "end", "type": "end", "data": {"output": "{{output}}"}},
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "agent_1"},
            {"id": "e2", "source": "agent_1", "target": "end"},
        ],
    }


async def stored_workflow(
    graph: dict[str, Any] | None = None,
    *,
    published: bool = True,
    settings: dict[str, Any] | None = None,
    project_id: str | None = None,
) -> str:
    """A workflow row (in a new project unless given) with one published version, written
    straight to the store; `published=False` leaves it a draft."""
    graph = graph or echo_graph()
    if project_id is None:
        project_id = new_id("proj")
        await Project.create(id=project_id, account_id=DEFAULT_ACCOUNT_ID, name="Tests")
    workflow = await Workflow.create(
        id=new_id("wf"),
        project_id=project_id,
        name="Support",
        status="live" if published else "draft",
        version=1 if published else 0,
        nodes=graph["nodes"],
        edges=graph["edges"],
        settings=settings or {},
    )
    if published:
        await WorkflowVersion.create(
            id=new_id("wfv"),
            workflow_id=workflow.id,
            version=1,
            nodes=graph["nodes"],
            edges=graph["edges"],
            settings=settings or {},
        )
    return workflow.id


def linear(provider: str = "echo", **agent: Any) -> tuple[list[dict], list[dict]]:
    nodes = [
        {"id": "start", "type": "start", "data": {"label": "Start"}},
        {
            "id": "llm_1",
            "type": "agent",
            "data": {"label": "Summarizer", "provider": provider, "model": "m", **agent},
        },
        {"id": "end", "type": "end", "data": {"output": "{{output}}"}},
    ]
    edges = [
        {"id": "e1", "source": "start", "target": "llm_1"},
        {"id": "e2", "source": "llm_1", "target": "end"},
    ]
    return nodes, edges


def with_approval(reject_edge: bool = True) -> tuple[list[dict], list[dict]]:
    nodes = [
        {"id": "start", "type": "start"},
        {"id": "llm_1", "type": "agent", "data": {"provider": "echo"}},
        {"id": "approval-1", "type": "approval", "data": {"prompt": "Deploy to production?"}},
        {"id": "ok", "type": "end", "data": {"output": "approved: {{output}}"}},
        {"id": "no", "type": "end", "data": {"output": "rejected"}},
    ]
    edges = [
        {"id": "e1", "source": "start", "target": "llm_1"},
        {"id": "e2", "source": "llm_1", "target": "approval-1"},
        {"id": "e3", "source": "approval-1", "sourceHandle": "approved", "target": "ok"},
    ]
    if reject_edge:
        edges.append(
            {"id": "e4", "source": "approval-1", "sourceHandle": "rejected", "target": "no"}
        )
    return nodes, edges


def two_approvals() -> tuple[list[dict], list[dict]]:
    nodes = [
        {"id": "start", "type": "start"},
        {"id": "a1", "type": "approval", "data": {"prompt": "First?"}},
        {"id": "a2", "type": "approval", "data": {"prompt": "Second?"}},
        {"id": "end", "type": "end"},
    ]
    edges = [
        {"id": "e1", "source": "start", "target": "a1"},
        {"id": "e2", "source": "a1", "sourceHandle": "approved", "target": "a2"},
        {"id": "e3", "source": "a2", "sourceHandle": "approved", "target": "end"},
    ]
    return nodes, edges


def gate_then_echo(prompt: str) -> dict[str, Any]:
    """A chat graph that asks for approval first, then echoes the user (rejected: ends)."""
    return {
        "nodes": [
            {"id": "start", "type": "start", "data": {"label": "Start"}},
            {"id": "gate", "type": "approval", "data": {"label": "Gate", "prompt": prompt}},
            {
                "id": "agent_1",
                "type": "agent",
                "data": {"label": "Echo", "provider": "echo", "model": "echo"},
            },
            {"id": "end", "type": "end", "data": {"output": "{{output}}"}},
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "gate"},
            {"id": "e2", "source": "gate", "sourceHandle": "approved", "target": "agent_1"},
            {"id": "e3", "source": "gate", "sourceHandle": "rejected", "target": "end"},
            {"id": "e4", "source": "agent_1", "target": "end"},
        ],
    }


async def publish(api: httpx.AsyncClient, graph: tuple[list, list], **extra: Any) -> dict:
    """A project (created once per client) and a published workflow; returns ids."""
    project = (await api.post("/api/v1/projects", json={"name": "runs"})).json()["id"]
    nodes, edges = graph
    r = await api.post(
        "/api/v1/workflows",
        json={"projectId": project, "name": "wf", "nodes": nodes, "edges": edges, **extra},
    )
    assert r.status_code == 201, r.text
    wf = r.json()["id"]
    r = await api.post(f"/api/v1/workflows/{wf}/publish")
    assert r.status_code == 200, r.text
    return {"project_id": project, "workflow_id": wf}
