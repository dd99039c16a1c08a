"""`ws.server_protocol` under a real uvicorn server on a loopback port: the send-many extension
is advertised, and the texts of one send arrive as separate frames, whole and in order;
ordinary sends still work beside it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
import websockets

from chat_platform.ws.server_protocol import SEND_MANY, WebSocketProtocol

BIG = "ç" * 70_000  # past 64 KiB: an extended length in the frame header


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps(SEND_MANY in scope["extensions"])})
    await send({"type": "websocket.send", "texts": ["one", "twö", BIG, "{}"]})
    await send({"type": "websocket.send", "text": "after"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


@pytest.fixture
async def server() -> AsyncIterator[int]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, ws=WebSocketProtocol, lifespan="off", log_level="warning"
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    for _ in range(500):
        if served.started:
            break
        await asyncio.sleep(0.01)
    yield served.servers[0].sockets[0].getsockname()[1]
    served.should_exit = True
    await asyncio.wait_for(task, 10)


async def test_texts_of_one_send_arrive_as_separate_frames_in_order(server: int) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{server}/", max_size=2**20) as ws:
        got = [await asyncio.wait_for(ws.recv(), 5) for _ in range(6)]
    assert got == ["true", "one", "twö", BIG, "{}", "after"]
