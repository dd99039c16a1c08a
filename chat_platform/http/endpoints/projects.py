"""`/projects`: list, create, update, delete (the spec's Projects section).

May import: starlette, http helpers, schemas, services.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_platform.http.auth import authenticate
from chat_platform.http.requests import pagination, parse_body
from chat_platform.http.responses import json_response, no_content
from chat_platform.schemas.projects import ProjectCreate, ProjectUpdate
from chat_platform.services import projects
from chat_platform.services.auth import Permission


async def list_projects(request: Request) -> Response:
    principal = await authenticate(request)
    limit, offset = pagination(request)
    return json_response(await projects.list_projects(principal, limit=limit, offset=offset))


async def create_project(request: Request) -> Response:
    principal = await authenticate(request, Permission.PROJECTS_WRITE)
    body = await parse_body(request, ProjectCreate)
    return json_response(await projects.create_project(principal, body), 201)


async def get_project(request: Request) -> Response:
    principal = await authenticate(request)
    project_id = request.path_params["project_id"]
    return json_response(await projects.get_project_view(principal, project_id))


async def update_project(request: Request) -> Response:
    principal = await authenticate(request, Permission.PROJECTS_WRITE)
    body = await parse_body(request, ProjectUpdate)
    project_id = request.path_params["project_id"]
    return json_response(await projects.update_project(principal, project_id, body))


async def delete_project(request: Request) -> Response:
    principal = await authenticate(request, Permission.PROJECTS_WRITE)
    await projects.delete_project(principal, request.path_params["project_id"])
    return no_content()


routes: list[Route] = [
    Route("/projects", list_projects, methods=["GET"]),
    Route("/projects", create_project, methods=["POST"]),
    Route("/projects/{project_id}", get_project, methods=["GET"]),
    Route("/projects/{project_id}", update_project, methods=["PUT"]),
    Route("/projects/{project_id}", delete_project, methods=["DELETE"]),
]
