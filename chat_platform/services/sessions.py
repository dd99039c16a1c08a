"""Chat session use cases: create, list per workflow (most recently updated first), get,
delete, and read a session's messages in chronological order — the paginated shapes
`{data, pagination: {total, limit, offset, has_more}}` of the spec.

May import: store, errors, ids, schemas, services.
"""

from __future__ import annotations

from typing import Any

from chat_platform.errors import NotFound
from chat_platform.ids import new_id, utcnow
from chat_platform.schemas.sessions import SessionCreate
from chat_platform.services.access import get_session, get_workflow
from chat_platform.services.auth import Permission, Principal
from chat_platform.services.views import message_view, page, session_view
from chat_platform.store.models import Message, Run, Session


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
    return await page(query, session_view, limit=limit, offset=offset)


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
    return await page(query, message_view, limit=limit, offset=offset)


async def recent_messages(session_id: str, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` messages, oldest first, of a session the caller already checked
    (one query: no count, no second access check)."""
    rows = await Message.filter(session_id=session_id).order_by("-created_at", "-id").limit(limit)
    return [message_view(m) for m in reversed(rows)]


async def message_by_client_id(session_id: str, client_message_id: str) -> dict[str, Any] | None:
    """The message stored for a client's message id in a session the caller already checked
    (the unique (session, client_message_id) index: however old the message is)."""
    row = await Message.get_or_none(session_id=session_id, client_message_id=client_message_id)
    return message_view(row) if row is not None else None


async def active_runs(session_id: str) -> list[dict[str, Any]]:
    """The session's unfinished turns (running, or paused at an approval), oldest first, so a
    reopened chat can show its typing indicator or approval buttons again."""
    rows = (
        await Run.filter(session_id=session_id, status__in=("running", "pending_approval"))
        .order_by("created_at")
        .values("id", "status", "approval_prompt", "paused_at_node_id")
    )
    return [
        {
            "run_id": r["id"],
            "status": r["status"],
            "approval_prompt": r["approval_prompt"],
            "paused_at_node_id": r["paused_at_node_id"],
        }
        for r in rows
    ]


async def rate_message(
    session_id: str, message_id: str, *, rating: str | None, comment: str | None
) -> dict[str, Any]:
    """Record (or withdraw, rating None) a chat user's rating of an answer of their session."""
    rated = await Message.filter(id=message_id, session_id=session_id, role="assistant").update(
        feedback=rating,
        feedback_comment=comment if rating else None,
        feedback_at=utcnow() if rating else None,
    )
    if not rated:
        raise NotFound("Message does not exist", code="MESSAGE_NOT_FOUND")
    return {"id": message_id}
