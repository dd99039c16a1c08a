"""`/sessions`: create, list per workflow, get, delete, and a session's messages — the
paginated `{data, pagination}` shapes of the spec.

May import: starlette, http helpers, schemas, services.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_platform.errors import BadRequest
from chat_platform.http.auth import authenticate
from chat_platform.http.requests import pagination, parse_body
from chat_platform.http.responses import json_response, no_content
from chat_platform.schemas.sessions import SessionCreate
from chat_platform.services import sessions
from chat_platform.services.auth import Permission


async def create_session(request: Request) -> Response:
    principal = await authenticate(request, Permission.SESSIONS_WRITE)
    body = await parse_body(request, SessionCreate)
    return json_response(await sessions.create_session(principal, body), 201)


async def list_sessions(request: Request) -> Response:
    principal = await authenticate(request)
    workflow_id = request.query_params.get("workflow_id")
    if not workflow_id:
        raise BadRequest("Missing required field: workflow_id", code="MISSING_FIELD")
    limit, offset = pagination(request)
    page = await sessions.list_sessions(principal, workflow_id, limit=limit, offset=offset)
    return json_response(page)


async def get_session(request: Request) -> Response:
    principal = await authenticate(request)
    session_id = request.path_params["session_id"]
    return json_response(await sessions.get_session_view(principal, session_id))


async def delete_session(request: Request) -> Response:
    principal = await authenticate(request, Permission.SESSIONS_WRITE)
    await sessions.delete_session(principal, request.path_params["session_id"])
    return no_content()


async def list_messages(request: Request) -> Response:
    principal = await authenticate(request)
    limit, offset = pagination(request, default=100, maximum=200)
    session_id = request.path_params["session_id"]
    page = await sessions.list_messages(principal, session_id, limit=limit, offset=offset)
    return json_response(page)


routes: list[Route] = [
    Route("/sessions", create_session, methods=["POST"]),
    Route("/sessions", list_sessions, methods=["GET"]),
    Route("/sessions/{session_id}", get_session, methods=["GET"]),
    Route("/sessions/{session_id}", delete_session, methods=["DELETE"]),
    Route("/sessions/{session_id}/messages", list_messages, methods=["GET"]),
]
