"""The SSE response as an ASGI app, driven through its receive/send channels: the opening
comment, pings while idle, the end of the body, a client that leaves (its stream stops, the
source is closed, nothing raises) and the server's own cancellation (it propagates)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chat_platform.http.sse import OPENING, PING, EventStream, event_stream


class Peer:
    """The server side of one HTTP exchange: what was sent, and a disconnect to deliver."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.left = asyncio.Event()
        self.streamed = asyncio.Event()  # an event chunk (not the opening, not a ping) went out

    async def receive(self) -> dict[str, Any]:
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message.get("body") not in (None, OPENING, PING):
            self.streamed.set()

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


class Source:
    def __init__(self, chunks: list[bytes], pause_s: float = 0.0, forever: bool = False) -> None:
        self.chunks, self.pause_s, self.forever = chunks, pause_s, forever
        self.closed = False

    async def __call__(self) -> AsyncIterator[bytes]:
        try:
            for chunk in self.chunks:
                await asyncio.sleep(self.pause_s)
                yield chunk
            if self.forever:
                await asyncio.Event().wait()
        finally:
            self.closed = True


async def test_opening_pings_and_end() -> None:
    peer, source = Peer(), Source([b"a", b"b"], pause_s=0.45)
    app = EventStream(source(), {"X-Run-Id": "run_1"}, ping_s=0.1)
    await asyncio.wait_for(app({"type": "http"}, peer.receive, peer.send), 5)
    start = peer.sent[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert (b"x-run-id", b"run_1") in start["headers"]
    bodies = peer.bodies()
    assert bodies[0] == OPENING
    assert [b for b in bodies if b != PING] == [OPENING, b"a", b"b", b""]
    assert bodies.index(b"a") > 2 and PING in bodies[1 : bodies.index(b"a")]  # idle: pings
    assert peer.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert source.closed


async def test_a_client_that_leaves_ends_only_its_stream() -> None:
    peer, source = Peer(), Source([b"a"], forever=True)
    app = EventStream(source(), {}, ping_s=10)
    call = asyncio.create_task(app({"type": "http"}, peer.receive, peer.send))
    await asyncio.wait_for(peer.streamed.wait(), 5)
    peer.left.set()
    await asyncio.wait_for(call, 5)  # returns, does not raise
    assert source.closed
    assert all(m.get("more_body", True) for m in peer.sent[1:])  # no end: nobody to read it
    assert call.cancelling() == 0  # the stream took back its own cancel


async def test_the_disconnect_that_follows_the_bodys_end_is_not_a_client_leaving() -> None:
    """As uvicorn does: once the last body message is sent, `receive` says disconnect. The
    watcher must not take that for the client leaving and cancel the final send."""

    class Finishing(Peer):
        finished = 0

        async def send(self, message: dict[str, Any]) -> None:
            await super().send(message)
            if message.get("more_body") is False:
                self.left.set()  # the response is complete: receive returns disconnect
                await asyncio.sleep(0.01)  # and the final write takes a moment
                self.finished += 1

    peer, source = Finishing(), Source([b"a"])
    await asyncio.wait_for(EventStream(source(), {})({}, peer.receive, peer.send), 5)
    assert peer.finished == 1 and source.closed


async def test_a_finished_stream_leaves_no_reference_cycle() -> None:
    """Every response is freed as it ends, not left as garbage for the cyclic collector (a
    timer callback that referred to itself left ~20 objects per request)."""
    gc.collect()
    gc.disable()
    try:
        peer, source = Peer(), Source([b"a"], pause_s=0.05)
        stream = EventStream(source(), {}, ping_s=0.01)  # a few pings go out meanwhile
        await asyncio.wait_for(stream({}, peer.receive, peer.send), 5)
        del stream
        await asyncio.sleep(0.02)  # the cancelled watcher and pings finish
        assert PING in peer.bodies()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        cyclic = [o for o in gc.garbage if isinstance(o, EventStream)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert cyclic == []


async def test_the_servers_cancellation_propagates() -> None:
    peer, source = Peer(), Source([b"a"], forever=True)
    call = asyncio.create_task(EventStream(source(), {})({}, peer.receive, peer.send))
    await asyncio.wait_for(peer.streamed.wait(), 5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert source.closed


async def test_event_batches_become_sse_events() -> None:
    async def batches() -> AsyncIterator[list[tuple[int, dict[str, Any]]]]:
        yield [
            (1, {"type": "run:start", "runId": "r"}),
            (2, {"type": "node:text-delta", "delta": "é"}),
        ]

    peer = Peer()
    await asyncio.wait_for(event_stream(batches())({}, peer.receive, peer.send), 5)
    body = b"".join(peer.bodies()[1:]).decode()
    assert body == (
        'id: 1\r\nevent: run:start\r\ndata: {"type":"run:start","runId":"r"}\r\n\r\n'
        'id: 2\r\ndata: {"type":"node:text-delta","delta":"é"}\r\n\r\n'
    )
