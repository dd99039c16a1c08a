"""Project use cases: list (scoped keys see their own project), create (account-scoped admin
keys only), update and delete (cascading to workflows, sessions, runs and secrets), audited.

May import: store, errors, ids, services.
"""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from chat_platform.errors import Forbidden
from chat_platform.ids import new_id
from chat_platform.schemas.projects import ProjectCreate, ProjectUpdate
from chat_platform.services import audit
from chat_platform.services.access import get_project
from chat_platform.services.audit import AuditAction
from chat_platform.services.auth import Permission, Principal
from chat_platform.services.views import project_view
from chat_platform.store.models import Project


async def list_projects(principal: Principal, *, limit: int, offset: int) -> list[dict[str, Any]]:
    query = Project.filter(account_id=principal.account_id)
    if principal.project_id is not None:
        query = query.filter(id=principal.project_id)
    rows = await query.order_by("created_at", "id").offset(offset).limit(limit)
    return [project_view(p) for p in rows]


async def get_project_view(principal: Principal, project_id: str) -> dict[str, Any]:
    return project_view(await get_project(principal, project_id))


async def create_project(principal: Principal, body: ProjectCreate) -> dict[str, Any]:
    principal.require(Permission.PROJECTS_WRITE)
    if principal.project_id is not None:
        raise Forbidden("Only account-scoped API keys can create projects")
    project = await Project.create(
        id=new_id("proj"), account_id=principal.account_id, name=body.name
    )
    return project_view(project)


async def update_project(
    principal: Principal, project_id: str, body: ProjectUpdate
) -> dict[str, Any]:
    principal.require(Permission.PROJECTS_WRITE)
    project = await get_project(principal, project_id)
    changes = body.model_dump(exclude_none=True)
    async with in_transaction() as conn:
        for name, value in changes.items():
            setattr(project, name, value)
        await project.save(using_db=conn)
        await audit.record(principal, AuditAction.PROJECT_UPDATE, project.id, using=conn)
    return project_view(project)


async def delete_project(principal: Principal, project_id: str) -> None:
    principal.require(Permission.PROJECTS_WRITE)
    project = await get_project(principal, project_id)
    async with in_transaction() as conn:
        await Project.filter(id=project.id).using_db(conn).delete()
        await audit.record(principal, AuditAction.PROJECT_DELETE, project.id, using=conn)
