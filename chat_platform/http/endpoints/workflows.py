"""`/workflows`: list, detail, create (incl. `crew`), update (incl. pause/resume), delete, and
versions: publish, list, detail, rollback. The runs listing lives in `endpoints/runs.py`.

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
from chat_platform.schemas.workflows import (
    WorkflowCreate,
    WorkflowPublish,
    WorkflowRollback,
    WorkflowUpdate,
)
from chat_platform.services import workflows
from chat_platform.services.auth import Permission


async def list_workflows(request: Request) -> Response:
    principal = await authenticate(request)
    limit, offset = pagination(request)
    project_id = request.query_params.get("project_id") or None
    rows = await workflows.list_workflows(
        principal, project_id=project_id, limit=limit, offset=offset
    )
    return json_response(rows)


async def create_workflow(request: Request) -> Response:
    principal = await authenticate(request, Permission.WORKFLOWS_WRITE)
    body = await parse_body(request, WorkflowCreate)
    return json_response(await workflows.create_workflow(principal, body), 201)


async def get_workflow(request: Request) -> Response:
    principal = await authenticate(request)
    workflow_id = request.path_params["workflow_id"]
    return json_response(await workflows.get_workflow_detail(principal, workflow_id))


async def update_workflow(request: Request) -> Response:
    principal = await authenticate(request, Permission.WORKFLOWS_WRITE)
    body = await parse_body(request, WorkflowUpdate)
    workflow_id = request.path_params["workflow_id"]
    return json_response(await workflows.update_workflow(principal, workflow_id, body))


async def delete_workflow(request: Request) -> Response:
    principal = await authenticate(request, Permission.WORKFLOWS_WRITE)
    await workflows.delete_workflow(principal, request.path_params["workflow_id"])
    return no_content()


async def publish_workflow(request: Request) -> Response:
    principal = await authenticate(request, Permission.WORKFLOWS_WRITE)
    body = await parse_body(request, WorkflowPublish)
    workflow_id = request.path_params["workflow_id"]
    return json_response(await workflows.publish_workflow(principal, workflow_id, body))


async def list_versions(request: Request) -> Response:
    principal = await authenticate(request)
    limit, offset = pagination(request)
    workflow_id = request.path_params["workflow_id"]
    rows = await workflows.list_versions(principal, workflow_id, limit=limit, offset=offset)
    return json_response(rows)


async def get_version(request: Request) -> Response:
    principal = await authenticate(request)
    raw = request.path_params["version"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise BadRequest("Invalid path parameter 'version': must be a positive integer")
    workflow_id = request.path_params["workflow_id"]
    return json_response(await workflows.get_version(principal, workflow_id, int(raw)))


async def rollback_workflow(request: Request) -> Response:
    principal = await authenticate(request, Permission.WORKFLOWS_WRITE)
    body = await parse_body(request, WorkflowRollback)
    workflow_id = request.path_params["workflow_id"]
    return json_response(await workflows.rollback_workflow(principal, workflow_id, body))


routes: list[Route] = [
    Route("/workflows", list_workflows, methods=["GET"]),
    Route("/workflows", create_workflow, methods=["POST"]),
    Route("/workflows/{workflow_id}", get_workflow, methods=["GET"]),
    Route("/workflows/{workflow_id}", update_workflow, methods=["PUT"]),
    Route("/workflows/{workflow_id}", delete_workflow, methods=["DELETE"]),
    Route("/workflows/{workflow_id}/publish", publish_workflow, methods=["POST"]),
    Route("/workflows/{workflow_id}/versions", list_versions, methods=["GET"]),
    Route("/workflows/{workflow_id}/versions/{version}", get_version, methods=["GET"]),
    Route("/workflows/{workflow_id}/rollback", rollback_workflow, methods=["POST"]),
]
