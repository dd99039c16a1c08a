"""The route table: every endpoint module contributes its `routes` list."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

from chat_platform.http import pages
from chat_platform.http.endpoints import health


def api_routes() -> list[BaseRoute]:
    from chat_platform.http.endpoints import ENDPOINT_MODULES

    v1: list[BaseRoute] = []
    for module in ENDPOINT_MODULES:
        v1.extend(module.routes)
    from chat_platform.ws.routes import routes as ws_routes

    # The WebSocket route goes before the Mount, which would claim every /api/v1 path.
    return [*health.routes, *pages.routes, *ws_routes, Mount("/api/v1", routes=v1)]
