"""Chat session use cases: create, list per workflow (most recently updated first), get,
delete, and read a session's messages in chronological order — the paginated shapes
`{data, pagination: {total, limit, offset, has_more}}` of the spec.

May import: store, errors, ids, schemas, services.
"""

from __future__ import annotations

from typing import Any

from tortoise.queryset import QuerySet

from chat_platform.ids import new_id
from chat_platform.schemas.sessions import SessionCreate
from chat_platform.services.access import get_session, get_workflow
from chat_platform.services.auth import Permission, Principal
from chat_platform.services.views import message_view, session_view
from chat_platform.store.models import Message, Session


async def _page(query: QuerySet, view: Any, *, limit: int, offset: int) -> dict[str, Any]:
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


async def create_session(principal: Principal, body: SessionCreate) -> dict[str, Any]:
    principal.require(Permission.SESSIONS_WRITE)
    workflow = await get_workflow(principal, body.workflow_id)
    session = await Session.create(id=new_id("sess"), workflow_id=workflow.id, title=body.title)
    return session_view(session)


async def list_sessions(
    principal: Principal, workflow_id: str, *, limit: int, offset: int
) -> dict[str, Any]:
    workflow = await get_workflow(principal, workflow_id)
    query = Session.filter(workflow_id=workflow.id).order_by("-updated_at", "-created_at", "id")
    return await _page(query, session_view, limit=limit, offset=offset)


async def get_session_view(principal: Principal, session_id: str) -> dict[str, Any]:
    return session_view(await get_session(principal, session_id))


async def delete_session(principal: Principal, session_id: str) -> None:
    principal.require(Permission.SESSIONS_WRITE)
    session = await get_session(principal, session_id)
    await Session.filter(id=session.id).delete()


async def list_messages(
    principal: Principal, session_id: str, *, limit: int, offset: int
) -> dict[str, Any]:
    session = await get_session(principal, session_id)
    query = Message.filter(session_id=session.id).order_by("created_at", "id")
    return await _page(query, message_view, limit=limit, offset=offset)
