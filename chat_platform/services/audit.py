"""The audit log: services record administrative actions (the spec's table of actions) and
admins list them, newest first. Entries carry the acting key, never request bodies or values.

May import: store, ids, services.auth, services.views.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from chat_platform.ids import new_id
from chat_platform.services.auth import Permission, Principal
from chat_platform.services.views import audit_view
from chat_platform.store.models import ApiKey, AuditLog


class AuditAction(StrEnum):
    WORKFLOW_UPDATE = "workflow.update"
    WORKFLOW_DELETE = "workflow.delete"
    WORKFLOW_PUBLISH = "workflow.publish"
    WORKFLOW_ROLLBACK = "workflow.rollback"
    PROJECT_UPDATE = "project.update"
    PROJECT_DELETE = "project.delete"
    SECRET_READ = "secret.read"
    SECRET_CREATE = "secret.create"
    SECRET_DELETE = "secret.delete"
    # Beyond the spec's table: the channels we add, recorded the same way.
    WIDGET_CREATE = "widget.create"
    WIDGET_UPDATE = "widget.update"
    WIDGET_ROTATE_SECRET = "widget.rotate_secret"
    WIDGET_DELETE = "widget.delete"
    TEAMS_INTEGRATION_CREATE = "teams_integration.create"
    TEAMS_INTEGRATION_UPDATE = "teams_integration.update"
    TEAMS_INTEGRATION_DELETE = "teams_integration.delete"


_RESOURCE_TYPES = {
    "workflow": "Workflow",
    "project": "Project",
    "secret": "Secret",
    "widget": "Widget",
    "teams_integration": "TeamsIntegration",
}


async def record(
    principal: Principal, action: AuditAction, resource_id: str, *, using: Any = None
) -> None:
    """Write one entry; `using` is the open transaction when the change is part of one."""
    await AuditLog.create(
        id=new_id("aud"),
        account_id=principal.account_id,
        actor_key_id=principal.key_id,
        action=action.value,
        resource_type=_RESOURCE_TYPES[action.value.split(".", 1)[0]],
        resource_id=resource_id,
        using_db=using,
    )


async def list_audit(principal: Principal, *, limit: int, offset: int) -> list[dict[str, Any]]:
    principal.require(Permission.ADMIN)
    query = AuditLog.filter(account_id=principal.account_id)
    if principal.project_id is not None:
        # A project-scoped admin sees the actions of keys scoped to the same project.
        key_ids = await ApiKey.filter(project_id=principal.project_id).values_list("id", flat=True)
        query = query.filter(actor_key_id__in=list(key_ids))
    rows = await query.order_by("-at", "-id").offset(offset).limit(limit)
    return [audit_view(a) for a in rows]
