"""Server-Sent Events for run streams: a comment at once, a ping every 15 s, `id:` on every
event so a client can resume with Last-Event-ID, and the anti-buffering headers. As in the
spec's "SSE output" sample, `node:text-delta` events go as `data:` lines without an `event:`
line (clients dispatch on the JSON `type`); every other event carries `event: <type>`.

The response is a small ASGI app of its own: one task beside the request's notices the
client leaving, and a timer sends the pings (sse-starlette ran four tasks per response
through anyio: ~10 % of a streamed turn's CPU, bench/PERF-LOG.md step 9). A client that
leaves ends only its stream: the run goes on and stays readable.
May import: starlette, chat_platform.json_codec.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import Receive, Scope, Send

from chat_platform import json_codec

log = logging.getLogger("chat_platform.http")

PING_SECONDS = 15
UNNAMED = frozenset({"node:text-delta"})
SEP = "\r\n"
_LINE_BREAK = re.compile(r"[\r\n]")
OPENING = f": stream open{SEP}{SEP}".encode()
PING = f": ping{SEP}{SEP}".encode()


def sse_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "Cache-Control": "no-cache, no-transform",
        "X-Accel-Buffering": "no",
        **(extra or {}),
    }


def encode_event(seq: int, event: dict[str, Any]) -> bytes:
    """One event in the SSE wire format (`id:`, `event:` unless unnamed, one `data:` line —
    compact JSON never contains a line break)."""
    return b"id: %d\r\n%sdata: %s\r\n\r\n" % (
        seq,
        _event_line(event.get("type")),
        json_codec.dumps_bytes(event),
    )


@functools.lru_cache(maxsize=256)
def _event_line(kind: object) -> bytes:
    """`event: <type>` (line breaks removed), or nothing for unnamed events; event types are a
    small set, so each line is built once."""
    if kind in UNNAMED or not isinstance(kind, str):
        return b""
    return f"event: {_LINE_BREAK.sub('', kind)}{SEP}".encode()


async def _frames(events: AsyncIterator[list[tuple[int, dict[str, Any]]]]) -> AsyncIterator[bytes]:
    async for batch in events:  # everything already published goes out in one write
        yield b"".join([encode_event(seq, event) for seq, event in batch])


class EventStream:
    """A `text/event-stream` response of byte chunks, each a whole number of events."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        headers: dict[str, str],
        ping_s: float = PING_SECONDS,
    ) -> None:
        self.chunks = chunks
        self.ping_s = ping_s
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": OPENING, "more_body": True})
        streaming = asyncio.current_task()
        assert streaming is not None
        left = False  # the client left (not the response's own end)
        ended = False  # the body's end is on its way: a disconnect now is that end

        async def watch() -> None:
            """Until the client leaves; then stop the stream."""
            nonlocal left
            message = await receive()
            if message["type"] == "http.disconnect" and not ended and not streaming.done():
                left = True
                streaming.cancel()

        # A timer, not a timeout around each wait: ~2.7 % of a streamed turn went to this
        # watching before (a timeout per receive, then cancelling and awaiting the watcher).
        pinger = _Pinger(send, self.ping_s)
        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            ended = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not left:
                raise  # the server's own cancellation (shutdown)
            streaming.uncancel()  # ours: the client left, and that is the end of it
        finally:
            pinger.stop()
            watcher.cancel()  # it only waits for `receive`: nothing to wait for
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()


class _Pinger:
    """A ping every `interval` seconds until stopped: a timer, and a task per ping only.
    No closure refers to itself and `stop` drops the timer, so a finished response leaves no
    reference cycle behind (each one was garbage for the collector to find)."""

    def __init__(self, send: Send, interval: float) -> None:
        self._send = send
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(interval, self._ping)

    def _ping(self) -> None:
        self._timer = self._loop.call_later(self._interval, self._ping)
        task = self._loop.create_task(self._send_ping())
        self._tasks.add(task)
        task.add_done_callback(self._settled)

    async def _send_ping(self) -> None:
        await self._send({"type": "http.response.body", "body": PING, "more_body": True})

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("event stream ping: %r", task.exception())

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in self._tasks:
            task.cancel()


def event_stream(
    events: AsyncIterator[list[tuple[int, dict[str, Any]]]], headers: dict[str, str] | None = None
) -> EventStream:
    """An SSE response of batches of (seq, event)."""
    return EventStream(_frames(events), sse_headers(headers))
