"""The chat WebSocket endpoint, `GET /api/v1/ws`: the handshake checks (a widget named in the
URL has its Origin allow-list checked before the upgrade is accepted, answering 403 otherwise),
then one `Connection` per socket reads frames and hands each to `handlers.dispatch`.

Browsers cannot send headers on a WebSocket, so credentials travel in the first frame (`auth`),
never in the URL; `?widget_id=` only lets a refused origin be refused at the handshake.
May import: starlette, errors, services, chat_platform.ws.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.websockets import WebSocket

from chat_platform.errors import ApiError
from chat_platform.schemas.widgets import normalize_origin
from chat_platform.services import widgets
from chat_platform.ws.connection import Connection, SocketLimits
from chat_platform.ws.handlers import dispatch

log = logging.getLogger("chat_platform.ws")


def own_origins(websocket: WebSocket, public_url: str | None) -> set[str]:
    """Origins of the pages we serve ourselves (the hosted /chat page): always allowed."""
    candidates: list[str] = []
    host = websocket.headers.get("host")
    if host:  # both schemes: TLS is often terminated by a proxy in front of us
        candidates += [f"http://{host}", f"https://{host}"]
    if public_url:
        parts = urlsplit(public_url)
        candidates.append(f"{parts.scheme}://{parts.netloc}")
    out: set[str] = set()
    for candidate in candidates:
        try:
            out.add(normalize_origin(candidate))
        except ValueError:
            continue
    return out


async def chat_socket(websocket: WebSocket) -> None:
    runtime = websocket.app.state.runtime
    limits: SocketLimits = runtime.extra(
        "ws_limits", lambda: SocketLimits(queue_limit=runtime.settings.ws_queue_limit)
    )
    conn = Connection(websocket, runtime, limits)
    conn.own_origins = own_origins(websocket, runtime.settings.public_url)
    widget_id = websocket.query_params.get("widget_id")
    if widget_id:
        conn.handshake_widget_id = widget_id
        try:
            widget = await widgets.load_chat_widget(runtime.sealer, widget_id)
        except ApiError:
            await websocket.close(code=1008)  # before accept: answered as HTTP 403
            return
        if not widgets.origin_allowed(widget.allowed_origins, conn.origin, conn.own_origins):
            log.info("widget %s: origin %r refused at handshake", widget_id, conn.origin)
            await websocket.close(code=1008)
            return
    await websocket.accept()
    await conn.serve(lambda text: dispatch(conn, text))
