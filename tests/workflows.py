"""Workflow graphs shared by the run tests, and a helper to create + publish one."""

from __future__ import annotations

from typing import Any

import httpx


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
