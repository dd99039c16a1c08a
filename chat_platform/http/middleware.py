"""Pure ASGI middleware on every HTTP response: `X-Request-Id`, rate-limit headers, and the
error envelope for anything that escaped the handlers (a 500 without a stack trace).

Pure ASGI (not BaseHTTPMiddleware) so streaming responses pass through untouched.
May import: starlette and chat_platform.http.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("chat_platform.http")


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        request_id = new_request_id()
        state["request_id"] = request_id
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = {"x-request-id": request_id, **state.get("response_headers", {})}
                for name, value in extra.items():
                    if name.lower().encode() not in names:
                        headers.append((name.lower().encode(), str(value).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            # A WebSocket's messages need no headers added: its send is passed through as is
            # (one wrapper fewer on every frame of a chat).
            wrapped = send_with_headers if scope["type"] == "http" else send
            await self.app(scope, receive, wrapped)
        except Exception:
            log.exception("unhandled error (request %s)", request_id)
            if scope["type"] != "http" or started:
                raise
            body = json.dumps(
                {
                    "error": {
                        "code": "INTERNAL_ERROR",
                        "message": "Unexpected server error",
                        "request_id": request_id,
                    }
                }
            ).encode()
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
