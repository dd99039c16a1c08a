"""The route table: every endpoint module contributes its `routes` list."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

from chat_platform.http.endpoints import health


def api_routes() -> list[BaseRoute]:
    from chat_platform.http.endpoints import ENDPOINT_MODULES

    v1: list[BaseRoute] = []
    for module in ENDPOINT_MODULES:
        v1.extend(module.routes)
    return [*health.routes, Mount("/api/v1", routes=v1)]
