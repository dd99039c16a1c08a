"""`GET /audit`: the account's audit log, newest first (admin keys only).

May import: starlette, http helpers, services.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_platform.http.auth import authenticate
from chat_platform.http.requests import pagination
from chat_platform.http.responses import json_response
from chat_platform.services import audit
from chat_platform.services.auth import Permission


async def list_audit(request: Request) -> Response:
    principal = await authenticate(request, Permission.ADMIN)
    limit, offset = pagination(request)
    return json_response(await audit.list_audit(principal, limit=limit, offset=offset))


routes: list[Route] = [Route("/audit", list_audit, methods=["GET"])]
