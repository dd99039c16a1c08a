"""The chat WebSocket's route, `/ws` under the API's mount (`chat_platform.http.routes`)."""

from __future__ import annotations

from starlette.routing import BaseRoute, WebSocketRoute

from chat_platform.ws.endpoint import chat_socket

routes: list[BaseRoute] = [WebSocketRoute("/ws", chat_socket)]
