"""`/widgets`: create (answers the visitor signing secret once), list, get, update, delete,
rotate the signing secret, and read the visitors' ratings of answers — public chat widgets
bound to one published workflow.

May import: starlette, http helpers, schemas, services.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_platform.http.auth import authenticate
from chat_platform.http.requests import pagination, parse_body
from chat_platform.http.responses import json_response, no_content
from chat_platform.schemas.widgets import WidgetCreate, WidgetUpdate
from chat_platform.services import widgets
from chat_platform.services.auth import Permission


async def create_widget(request: Request) -> Response:
    principal = await authenticate(request, Permission.WORKFLOWS_WRITE)
    body = await parse_body(request, WidgetCreate)
    sealer = request.app.state.runtime.sealer
    return json_response(await widgets.create_widget(principal, sealer, body), 201)


async def list_widgets(request: Request) -> Response:
    principal = await authenticate(request)
    limit, offset = pagination(request)
    workflow_id = request.query_params.get("workflow_id") or None
    page = await widgets.list_widgets(
        principal, workflow_id=workflow_id, limit=limit, offset=offset
    )
    return json_response(page)


async def get_widget(request: Request) -> Response:
    principal = await authenticate(request)
    return json_response(await widgets.get_widget(principal, request.path_params["widget_id"]))


async def update_widget(request: Request) -> Response:
    principal = await authenticate(request, Permission.WORKFLOWS_WRITE)
    body = await parse_body(request, WidgetUpdate)
    widget_id = request.path_params["widget_id"]
    return json_response(await widgets.update_widget(principal, widget_id, body))


async def rotate_secret(request: Request) -> Response:
    principal = await authenticate(request, Permission.WORKFLOWS_WRITE)
    sealer = request.app.state.runtime.sealer
    widget_id = request.path_params["widget_id"]
    return json_response(await widgets.rotate_signing_secret(principal, sealer, widget_id))


async def list_feedback(request: Request) -> Response:
    principal = await authenticate(request)
    limit, offset = pagination(request)
    page = await widgets.list_feedback(
        principal,
        request.path_params["widget_id"],
        rating=request.query_params.get("rating") or None,
        limit=limit,
        offset=offset,
    )
    return json_response(page)


async def delete_widget(request: Request) -> Response:
    principal = await authenticate(request, Permission.WORKFLOWS_WRITE)
    await widgets.delete_widget(principal, request.path_params["widget_id"])
    return no_content()


routes: list[Route] = [
    Route("/widgets", create_widget, methods=["POST"]),
    Route("/widgets", list_widgets, methods=["GET"]),
    Route("/widgets/{widget_id}", get_widget, methods=["GET"]),
    Route("/widgets/{widget_id}", update_widget, methods=["PUT", "PATCH"]),
    Route("/widgets/{widget_id}", delete_widget, methods=["DELETE"]),
    Route("/widgets/{widget_id}/rotate-secret", rotate_secret, methods=["POST"]),
    Route("/widgets/{widget_id}/feedback", list_feedback, methods=["GET"]),
]
