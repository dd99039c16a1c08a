"""`/projects/{id}/secrets` and `/workflows/{id}/secrets`: list (metadata), create, delete.

May import: starlette, http helpers, schemas, services.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_platform.http.auth import authenticate
from chat_platform.http.requests import pagination, parse_body
from chat_platform.http.responses import json_response, no_content
from chat_platform.schemas.secrets import SecretCreate
from chat_platform.services import secrets
from chat_platform.services.auth import Permission, Principal


async def _scope(request: Request) -> tuple[Principal, secrets.Scope]:
    principal = await authenticate(request, Permission.SECRETS)
    kind = "workflow" if "workflow_id" in request.path_params else "project"
    resource_id = request.path_params[f"{kind}_id"]
    return principal, await secrets.resolve_scope(principal, kind=kind, resource_id=resource_id)


async def list_secrets(request: Request) -> Response:
    principal, scope = await _scope(request)
    limit, offset = pagination(request)
    return json_response(await secrets.list_secrets(principal, scope, limit=limit, offset=offset))


async def create_secret(request: Request) -> Response:
    principal, scope = await _scope(request)
    body = await parse_body(request, SecretCreate)
    sealer = request.app.state.runtime.sealer
    return json_response(await secrets.create_secret(principal, scope, body, sealer), 201)


async def delete_secret(request: Request) -> Response:
    principal, scope = await _scope(request)
    await secrets.delete_secret(principal, scope, request.path_params["secret_id"])
    return no_content()


routes: list[Route] = [
    Route(f"/{kind}/{{{kind[:-1]}_id}}/secrets{suffix}", handler, methods=[method])
    for kind in ("projects", "workflows")
    for suffix, handler, method in (
        ("", list_secrets, "GET"),
        ("", create_secret, "POST"),
        ("/{secret_id}", delete_secret, "DELETE"),
    )
]
