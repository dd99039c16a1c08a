"""Resource views: ORM rows → the spec's JSON shapes (snake_case, every listed field present,
ISO 8601 UTC timestamps with milliseconds). Services return these dicts, never rows.

May import: store models (read only), ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.queryset import QuerySet

from chat_platform.ids import iso
from chat_platform.store.models import (
    AuditLog,
    Message,
    Project,
    Run,
    Secret,
    Session,
    Workflow,
    WorkflowVersion,
)


def project_view(p: Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "enabled": p.enabled,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
    }


def workflow_view(w: Workflow) -> dict[str, Any]:
    return {
        "id": w.id,
        "project_id": w.project_id,
        "name": w.name,
        "description": w.description or "",
        "version": w.version,
        "status": w.status,
        "created_at": iso(w.created_at),
        "updated_at": iso(w.updated_at),
    }


def workflow_detail_view(w: Workflow) -> dict[str, Any]:
    return {
        **workflow_view(w),
        "nodes": w.nodes or [],
        "edges": w.edges or [],
        "settings": w.settings or {},
        "crew": w.crew,
        "model": w.model,
    }


def version_view(v: WorkflowVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "workflow_id": v.workflow_id,
        "version": v.version,
        "published_at": iso(v.published_at),
    }


def version_detail_view(v: WorkflowVersion) -> dict[str, Any]:
    return {
        **version_view(v),
        "nodes": v.nodes or [],
        "edges": v.edges or [],
        "settings": v.settings or {},
    }


def secret_view(s: Secret) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "created_at": iso(s.created_at)}


async def page(
    query: QuerySet, view: Callable[[Any], dict[str, Any]], *, limit: int, offset: int
) -> dict[str, Any]:
    """One page of an (ordered) query: `{data, pagination: {total, limit, offset, has_more}}`."""
    total = await query.count()
    rows = await query.offset(offset).limit(limit)
    return {
        "data": [view(r) for r in rows],
        "pagination": {
            "total": total,
            "limit": limit,
            "offset": offset,
            "has_more": offset + len(rows) < total,
        },
    }


def session_view(s: Session) -> dict[str, Any]:
    return {
        "id": s.id,
        "workflow_id": s.workflow_id,
        "title": s.title,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
    }


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A message a turn stored, without a model instance (what `message_view` reads)."""

    id: str
    session_id: str
    role: str
    content: str
    run_id: str
    status: str
    created_at: datetime
    type: str = "text"


def message_view(m: Message | MessageRow) -> dict[str, Any]:
    return {
        "id": m.id,
        "session_id": m.session_id,
        "role": m.role,
        "content": m.content,
        "type": m.type,
        "run_id": m.run_id,
        "status": m.status,
        "created_at": iso(m.created_at),
    }


def run_view(r: Run) -> dict[str, Any]:
    """WorkflowRun (list view) plus the RunResult fields a client may poll for."""
    return {
        "id": r.id,
        "workflow_id": r.workflow_id,
        "session_id": r.session_id,
        "status": r.status,
        "output": r.output,
        "error": r.error,
        "approval_prompt": r.approval_prompt,
        "paused_at_node_id": r.paused_at_node_id,
        "started_at": iso(r.started_at),
        "completed_at": iso(r.completed_at),
        "created_at": iso(r.created_at),
    }


def run_detail_view(r: Run) -> dict[str, Any]:
    return {
        **run_view(r),
        "workflow_version": r.workflow_version,
        "input": r.input or [],
        "variables": r.variables or {},
        "metadata": r.metadata or {},
        "node_trace": r.node_trace or [],
        "approval_decision": r.approval_decision,
        "approval_comment": r.approval_comment,
    }


def audit_view(a: AuditLog) -> dict[str, Any]:
    return {
        "id": a.id,
        "action": a.action,
        "resource_type": a.resource_type,
        "resource_id": a.resource_id,
        "actor_key_id": a.actor_key_id,
        "created_at": iso(a.at),
    }
