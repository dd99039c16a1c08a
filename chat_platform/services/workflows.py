"""Workflow use cases: list/get/create (with the `crew` shorthand)/update (pause/resume)/delete,
and the version history: publish an immutable snapshot, list and read versions, roll back.

Version numbers are allocated inside a transaction that locks the workflow row (PostgreSQL) or
holds SQLite's single writer; the (workflow, version) unique constraint is the backstop, and a
collision is retried. May import: store, errors, ids, schemas, services; the engine lazily.
"""

from __future__ import annotations

import inspect
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from chat_platform.errors import BadRequest, Conflict, NotFound, WorkflowDefinitionError
from chat_platform.ids import new_id
from chat_platform.schemas.workflows import (
    CrewMember,
    WorkflowCreate,
    WorkflowPublish,
    WorkflowRollback,
    WorkflowUpdate,
)
from chat_platform.services import audit
from chat_platform.services.access import get_project, get_workflow
from chat_platform.services.audit import AuditAction
from chat_platform.services.auth import Permission, Principal
from chat_platform.services.views import (
    version_detail_view,
    version_view,
    workflow_detail_view,
    workflow_view,
)
from chat_platform.store.models import Workflow, WorkflowVersion

_PUBLISH_ATTEMPTS = 5


# --- crew shorthand ---------------------------------------------------------------------------


def provider_for_model(model: str | None) -> str:
    """openai for gpt-*/o1…o9-*, anthropic for claude-*, the offline echo provider otherwise."""
    name = (model or "").lower()
    if name.startswith("gpt-") or (len(name) >= 2 and name[0] == "o" and name[1].isdigit()):
        return "openai"
    if name.startswith("claude-"):
        return "anthropic"
    return "echo"


def crew_graph(
    crew: list[CrewMember], model: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """start → one agent per member, each fed the previous one's output → end."""
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "start", "data": {"label": "Start"}}]
    for i, member in enumerate(crew, start=1):
        member_model = member.model or model
        nodes.append(
            {
                "id": f"agent_{i}",
                "type": "agent",
                "data": {
                    "label": member.role,
                    "provider": provider_for_model(member_model),
                    "model": member_model,
                    "instructions": member.systemPrompt,
                    "include_history": True,
                },
            }
        )
    nodes.append({"id": "end", "type": "end", "data": {"label": "End", "output": "{{output}}"}})
    edges = [
        {"id": f"e{i}", "source": nodes[i - 1]["id"], "target": nodes[i]["id"]}
        for i in range(1, len(nodes))
    ]
    return nodes, edges


# --- queries ----------------------------------------------------------------------------------


async def list_workflows(
    principal: Principal, *, project_id: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    query = Workflow.filter(project__account_id=principal.account_id)
    if principal.project_id is not None:
        query = query.filter(project_id=principal.project_id)
    if project_id is not None:
        query = query.filter(project_id=project_id)
    rows = await query.order_by("-updated_at", "id").offset(offset).limit(limit)
    return [workflow_view(w) for w in rows]


async def get_workflow_detail(principal: Principal, workflow_id: str) -> dict[str, Any]:
    return workflow_detail_view(await get_workflow(principal, workflow_id))


# --- commands ---------------------------------------------------------------------------------


async def create_workflow(principal: Principal, body: WorkflowCreate) -> dict[str, Any]:
    principal.require(Permission.WORKFLOWS_WRITE)
    project_id = body.project_id or principal.project_id
    if project_id is None:
        raise BadRequest("Missing required field: projectId", code="MISSING_FIELD")
    project = await get_project(principal, project_id)
    nodes, edges = body.nodes, body.edges
    crew = [m.model_dump(exclude_none=True) for m in body.crew] if body.crew else None
    if body.crew and not nodes:
        nodes, edges = crew_graph(body.crew, body.model)
    workflow = await Workflow.create(
        id=new_id("wf"),
        project_id=project.id,
        name=body.name,
        description=body.description or "",
        nodes=nodes or [],
        edges=edges or [],
        settings=body.settings or {},
        crew=crew,
        model=body.model,
    )
    return workflow_detail_view(workflow)


def _resumed_status(workflow: Workflow) -> str:
    return "live" if workflow.version > 0 else "draft"


async def update_workflow(
    principal: Principal, workflow_id: str, body: WorkflowUpdate
) -> dict[str, Any]:
    principal.require(Permission.WORKFLOWS_WRITE)
    workflow = await get_workflow(principal, workflow_id)
    changes = body.model_dump(exclude_none=True, include={"name", "description", "nodes", "edges"})
    if body.settings is not None:
        changes["settings"] = body.settings
    if body.status == "paused":
        changes["status"] = "paused"
    elif body.status in ("live", "active"):
        changes["status"] = _resumed_status(workflow)
    async with in_transaction() as conn:
        for name, value in changes.items():
            setattr(workflow, name, value)
        await workflow.save(using_db=conn)
        await audit.record(principal, AuditAction.WORKFLOW_UPDATE, workflow.id, using=conn)
    return workflow_detail_view(workflow)


async def delete_workflow(principal: Principal, workflow_id: str) -> None:
    principal.require(Permission.WORKFLOWS_WRITE)
    workflow = await get_workflow(principal, workflow_id)
    async with in_transaction() as conn:
        await Workflow.filter(id=workflow.id).using_db(conn).delete()
        await audit.record(principal, AuditAction.WORKFLOW_DELETE, workflow.id, using=conn)


# --- versions ---------------------------------------------------------------------------------


def validate_graph(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
    """400 INVALID_WORKFLOW for an empty or malformed graph, naming the offending node."""
    if not nodes:
        raise BadRequest("Workflow has no nodes", code="INVALID_WORKFLOW")
    try:
        from chat_platform.engine.definition import compile_workflow
    except ImportError:  # the engine is not installed in this build: structural checks only
        return
    try:
        if len(inspect.signature(compile_workflow).parameters) == 1:
            compile_workflow({"nodes": nodes, "edges": edges})
        else:
            compile_workflow(nodes, edges)
    except WorkflowDefinitionError as exc:
        where = f" (node '{exc.node_id}')" if exc.node_id else ""
        raise BadRequest(
            f"Invalid workflow{where}: {exc.message}", code="INVALID_WORKFLOW"
        ) from None


async def _snapshot(
    principal: Principal,
    workflow_id: str,
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    action: AuditAction,
) -> int:
    """Append version N+1 holding this graph; the draft and status follow. Returns N+1."""
    for _ in range(_PUBLISH_ATTEMPTS):
        try:
            async with in_transaction() as conn:
                workflow = (
                    await Workflow.filter(id=workflow_id).using_db(conn).select_for_update().first()
                )
                if workflow is None:
                    raise NotFound(
                        "The specified workflow does not exist", code="WORKFLOW_NOT_FOUND"
                    )
                last = (
                    await WorkflowVersion.filter(workflow_id=workflow_id)
                    .using_db(conn)
                    .order_by("-version")
                    .first()
                )
                number = (last.version if last else 0) + 1
                await WorkflowVersion.create(
                    id=new_id("wfv"),
                    workflow_id=workflow_id,
                    version=number,
                    nodes=nodes,
                    edges=edges,
                    settings=workflow.settings or {},
                    using_db=conn,
                )
                workflow.nodes, workflow.edges = nodes, edges
                workflow.version, workflow.status = number, "live"
                await workflow.save(using_db=conn)
                await audit.record(principal, action, workflow_id, using=conn)
                return number
        except IntegrityError:
            continue
    raise Conflict("Another publish of this workflow is in progress; retry")


async def publish_workflow(
    principal: Principal, workflow_id: str, body: WorkflowPublish
) -> dict[str, Any]:
    principal.require(Permission.WORKFLOWS_WRITE)
    workflow = await get_workflow(principal, workflow_id)
    nodes = body.nodes if body.nodes is not None else workflow.nodes or []
    edges = body.edges if body.edges is not None else workflow.edges or []
    validate_graph(nodes, edges)
    number = await _snapshot(principal, workflow.id, nodes, edges, AuditAction.WORKFLOW_PUBLISH)
    return {"version": number, "status": "live"}


async def _get_version(workflow: Workflow, version: int) -> WorkflowVersion:
    row = await WorkflowVersion.get_or_none(workflow_id=workflow.id, version=version)
    if row is None:
        raise NotFound(f"Version {version} of this workflow does not exist")
    return row


async def list_versions(
    principal: Principal, workflow_id: str, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    workflow = await get_workflow(principal, workflow_id)
    rows = (
        await WorkflowVersion.filter(workflow_id=workflow.id)
        .order_by("-version")
        .offset(offset)
        .limit(limit)
    )
    return [version_view(v) for v in rows]


async def get_version(principal: Principal, workflow_id: str, version: int) -> dict[str, Any]:
    workflow = await get_workflow(principal, workflow_id)
    return version_detail_view(await _get_version(workflow, version))


async def rollback_workflow(
    principal: Principal, workflow_id: str, body: WorkflowRollback
) -> dict[str, Any]:
    principal.require(Permission.WORKFLOWS_WRITE)
    workflow = await get_workflow(principal, workflow_id)
    target = await _get_version(workflow, body.version)
    number = await _snapshot(
        principal, workflow.id, target.nodes, target.edges, AuditAction.WORKFLOW_ROLLBACK
    )
    return {"version": number, "status": "live", "rolled_back_from": body.version}
