"""uvicorn's WebSocket protocol (websockets, sans-I/O) with one ASGI extension: several text
frames in one `send`, written to the socket at once. `serve` runs it.

Why: a chat turn sends ~15 frames (the run's events, the messages), mostly in bursts of 3–6
published together. One ASGI send per frame is one trip through Starlette's send wrappers,
uvicorn's send and a `write` system call each (the kernel's loopback delivery included); a
burst in one write costs one of each.

The extension is advertised in the scope (`extensions[SEND_MANY]`); a socket served without
it (another server, Starlette's test client) sends frame by frame (`ws.connection`). The
message is an ordinary `websocket.send` with a `texts` list beside it, so Starlette's
`WebSocket.send` passes it through unchanged.
May import: uvicorn, websockets and the standard library.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

SEND_MANY = "chat_platform.websocket.send_many"


# What `send` below uses of uvicorn's protocol. A uvicorn without one of them gets no extension
# advertised, and the app sends frame by frame: a new uvicorn can make it slower, not broken.
_NEEDS = (
    "conn",
    "transport",
    "writable",
    "disconnected",
    "handshake_complete",
    "close_sent",
    "initial_response",
)


class WebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if all(hasattr(self, name) for name in _NEEDS):
            self.scope["extensions"][SEND_MANY] = {}  # the app's task has not started yet

    async def send(self, message: Any) -> None:
        texts = message.get("texts") if message["type"] == "websocket.send" else None
        if texts is None:
            return await super().send(message)
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        if not self.handshake_complete or self.close_sent or self.initial_response is not None:
            for text in texts:  # whatever uvicorn does with a frame in that state
                await super().send({"type": "websocket.send", "text": text})
            return
        try:
            for text in texts:
                self.conn.send_text(text.encode())
        except InvalidState:  # as uvicorn's own send: the connection is closing
            raise ClientDisconnected() from None
        self.transport.write(b"".join(self.conn.data_to_send()))
