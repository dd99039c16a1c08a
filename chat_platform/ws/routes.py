"""The chat WebSocket's route, mounted by `chat_platform.http.routes` next to the API."""

from __future__ import annotations

from starlette.routing import BaseRoute, WebSocketRoute

from chat_platform.ws.endpoint import chat_socket

routes: list[BaseRoute] = [WebSocketRoute("/api/v1/ws", chat_socket)]
