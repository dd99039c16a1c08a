"""`GET /healthz`: liveness without auth; checks the database answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.connection import connections

from chat_platform.http.responses import json_response


async def healthz(request: Request) -> Response:
    try:
        await connections.get("default").execute_query("SELECT 1")
        db = "ok"
    except Exception:
        db = "unavailable"
    status = 200 if db == "ok" else 503
    return json_response({"status": "ok" if status == 200 else "degraded", "database": db}, status)


routes = [Route("/healthz", healthz, methods=["GET"])]
