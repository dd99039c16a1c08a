"""`/keys`: create (the raw key is shown once), list (never the secret or its hash), revoke
(`DELETE /keys/{id}` or `POST /keys/{id}/revoke`). Admin keys only; a project-scoped admin
key manages only keys of its own project.

May import: starlette, http helpers, schemas, services.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_platform.errors import Forbidden, NotFound
from chat_platform.http.auth import authenticate
from chat_platform.http.requests import pagination, parse_body
from chat_platform.http.responses import json_response
from chat_platform.schemas.keys import KeyCreate
from chat_platform.services.auth import (
    Permission,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)


async def create_key(request: Request) -> Response:
    principal = await authenticate(request, Permission.ADMIN)
    body = await parse_body(request, KeyCreate)
    project_id = body.project_id
    if principal.project_id is not None:
        if project_id not in (None, principal.project_id):
            raise Forbidden("A project-scoped key can only create keys for its own project")
        project_id = principal.project_id
    raw, view = await create_api_key(
        account_id=principal.account_id, role=body.role, project_id=project_id, name=body.name
    )
    return json_response({**view, "key": raw}, 201)


async def list_keys(request: Request) -> Response:
    principal = await authenticate(request, Permission.ADMIN)
    limit, offset = pagination(request)
    keys = await list_api_keys(principal.account_id, limit=10_000, offset=0)
    if principal.project_id is not None:
        keys = [k for k in keys if k["project_id"] == principal.project_id]
    return json_response(keys[offset : offset + limit])


async def revoke_key(request: Request) -> Response:
    principal = await authenticate(request, Permission.ADMIN)
    key_id = request.path_params["key_id"]
    if principal.project_id is not None:
        mine = await list_api_keys(principal.account_id, limit=10_000, offset=0)
        if not any(k["id"] == key_id and k["project_id"] == principal.project_id for k in mine):
            raise NotFound("API key does not exist")
    return json_response(await revoke_api_key(principal.account_id, key_id))


routes: list[Route] = [
    Route("/keys", create_key, methods=["POST"]),
    Route("/keys", list_keys, methods=["GET"]),
    Route("/keys/{key_id}", revoke_key, methods=["DELETE"]),
    Route("/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
]
