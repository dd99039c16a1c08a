"""The route table: every endpoint module contributes its `routes` list."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

from chat_platform.http import pages
from chat_platform.http.endpoints import health


def api_routes() -> list[BaseRoute]:
    from chat_platform.http.endpoints import ENDPOINT_MODULES
    from chat_platform.ws.routes import routes as ws_routes

    v1: list[BaseRoute] = [*ws_routes]
    for module in ENDPOINT_MODULES:
        v1.extend(module.routes)
    # Routes are tried in order, a regex match each (~7,000 instructions): the API first, its
    # chat routes at its head (ENDPOINT_MODULES), the pages and the health check after it.
    return [Mount("/api/v1", routes=v1), *health.routes, *pages.routes]
