"""Per-socket state of the chat WebSocket: who is on the other end (an API key's principal or a
widget visitor), the session it has open and its attachment to that session's channel on the
bus, and a bounded send queue drained by one sender task.

Nothing ever awaits the client while producing: the bus hands session events over in place
(`push_event`, no follower task), replies are enqueued without blocking, and when the queue is
full events wait in a bounded overflow, each for at most `stall_timeout_s` (absorbing a
burst). A client that stays `queue_limit` frames behind — or floods replies it never reads — is
closed with 1013 and a reason (it reconnects with `resume_after_seq` and loses nothing). One
stalled socket costs bounded memory (the queue plus the overflow) and never delays the
others. Every server frame carries `seq`: session events their own (from the
session channel of the bus); replies (`auth.ok`, `pong`, `error`…) repeat the seq of the last
event delivered, so "resume after the last seq you saw" is always right.
May import: starlette, errors, json_codec, services, chat_platform.ws.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from chat_platform import json_codec
from chat_platform.bus.events import Detach, SubscriberOverflow
from chat_platform.errors import ApiError, BadRequest
from chat_platform.services.auth import Principal
from chat_platform.services.visitors import Visitor
from chat_platform.services.widgets import ChatWidget
from chat_platform.ws.frames import error_frame
from chat_platform.ws.server_protocol import SEND_MANY

log = logging.getLogger("chat_platform.ws")

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008  # auth failure, origin refused, auth timeout
CLOSE_TRY_AGAIN = 1013  # slow consumer, rate limited at connect, server going away
CLOSE_INTERNAL = 1011


@dataclass(frozen=True)
class Identity:
    """An API key's principal, or a widget visitor chatting as the widget's principal."""

    principal: Principal
    widget: ChatWidget | None = None
    visitor: Visitor | None = None
    client_ip: str = ""

    @property
    def is_widget(self) -> bool:
        return self.widget is not None


@dataclass
class OpenSession:
    id: str
    workflow_id: str


@dataclass
class SocketLimits:
    queue_limit: int = 1000  # frames buffered for one client…
    stall_timeout_s: float = 5.0  # …for at most this long before it is cut off
    overflow_limit: int = 10_000  # session events waiting for room in a full queue
    auth_timeout_s: float = 10.0  # time to send `auth` after the handshake
    # How long a close frame may wait behind unread data before the connection is dropped.
    close_timeout_s: float = 60.0


class Connection:
    def __init__(self, websocket: WebSocket, runtime: Any, limits: SocketLimits) -> None:
        self.ws = websocket
        self.runtime = runtime
        self.limits = limits
        self.identity: Identity | None = None
        # From the handshake: the peer's address, its Origin, the origins of our own pages,
        # and the widget named in the URL (`?widget_id=`), if any.
        self.client_ip = websocket.client.host if websocket.client else ""
        self.origin: str | None = websocket.headers.get("origin")
        self.own_origins: set[str] = set()
        self.handshake_widget_id: str | None = None
        self.session: OpenSession | None = None
        self.last_seq = 0
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=limits.queue_limit)
        self._detach: Detach | None = None  # from the session's channel
        # Session events waiting for room in a full queue, and the task feeding them in.
        self._overflow: deque[tuple[dict[str, Any], int]] | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._close: tuple[int, str] | None = None
        # A bare future, not an Event and a task waiting on it: ~10k idle sockets per process.
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drain = True

    # --- producing frames -------------------------------------------------------------------

    def send(self, frame: dict[str, Any], *, seq: int | None = None) -> None:
        """Enqueue a frame without waiting; a full queue closes the socket (slow consumer)."""
        if self._close is not None:
            return
        if seq is not None:
            self.last_seq = seq
            frame = {**frame, "seq": seq}
        elif "seq" not in frame:
            frame = {**frame, "seq": self.last_seq}
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.close(
                CLOSE_TRY_AGAIN,
                f"slow consumer: more than {self.limits.queue_limit} frames unread; "
                f"reconnect with resume_after_seq",
                drain=False,
            )

    def push_event(self, frame: dict[str, Any], seq: int) -> None:
        """Enqueue a session event (`frame` becomes ours); called by the bus in place, so it
        never waits and never raises. With the queue full, events wait in the overflow, fed
        in by a task that gives each `stall_timeout_s` to find room before the client is
        closed as a slow consumer."""
        if self._close is not None:
            return
        frame["seq"] = seq
        if self._overflow is None:
            try:
                self._queue.put_nowait(frame)
            except asyncio.QueueFull:
                self._overflow = deque()
                self._drainer = asyncio.create_task(self._drain_overflow(self._overflow))
            else:
                self.last_seq = seq
                return
        if len(self._overflow) >= self.limits.overflow_limit:
            self._slow_consumer()
            return
        self._overflow.append((frame, seq))

    async def _drain_overflow(self, overflow: deque[tuple[dict[str, Any], int]]) -> None:
        while overflow:
            frame, seq = overflow[0]
            try:
                await asyncio.wait_for(self._queue.put(frame), self.limits.stall_timeout_s)
            except TimeoutError:
                self.close(
                    CLOSE_TRY_AGAIN,
                    f"slow consumer: {self.limits.queue_limit} frames unread for "
                    f"{self.limits.stall_timeout_s:g} s; reconnect with resume_after_seq",
                    drain=False,
                )
                return
            overflow.popleft()
            self.last_seq = seq
        self._overflow = None

    def _slow_consumer(self) -> None:
        self.close(CLOSE_TRY_AGAIN, "slow consumer: reconnect with resume_after_seq", drain=False)

    def send_error(self, exc: ApiError, *, frame: str | None = None) -> None:
        self.send(error_frame(exc, frame=frame))

    def close(self, code: int, reason: str, *, drain: bool = True) -> None:
        """Close once queued frames are out (`drain`), or at once, dropping them."""
        if self._close is None:
            self._close = (code, reason[:120])
            self._drain = drain
            self.stop_following()
            if not self._closed.done():
                self._closed.set_result(None)

    # --- following a session ----------------------------------------------------------------

    async def follow(self, attach: Callable[[], Awaitable[Detach]]) -> None:
        """Attach to a session's channel (replacing any other attachment); `attach` hands the
        bus `push_event`. A failure closes the socket with a reason; the client resumes."""
        self.stop_following()
        try:
            detach = await attach()
        except SubscriberOverflow:
            self._slow_consumer()
            return
        except Exception:  # the bus unreachable (Redis down): the client resumes later
            log.exception("following a session failed")
            self.close(CLOSE_INTERNAL, "event stream failed; reconnect with resume_after_seq")
            return
        if self._close is not None:  # closed while attaching
            detach()
        else:
            self._detach = detach

    def stop_following(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None
        if self._drainer is not None and not self._drainer.done():
            self._drainer.cancel()
        self._drainer = None
        self._overflow = None

    # --- the socket's life ------------------------------------------------------------------

    async def serve(self, on_text: Callable[[str], Awaitable[None]]) -> None:
        """Read frames until the client leaves or a close is asked for; then clean up."""
        sender = asyncio.create_task(self._send_loop())
        reader = asyncio.create_task(self._read_loop(on_text))
        closed = self._closed
        tasks = (sender, reader, closed)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The server is cancelling us (shutdown): clean up without awaiting anything more.
            self.stop_following()
            for task in tasks:
                task.cancel()
            raise
        # Shielded: a cancellation arriving now (server shutdown) must not interrupt the close
        # handshake half-way, nor be delivered twice while we wait on our own tasks.
        await asyncio.shield(self._finish(sender, reader, closed))

    async def _finish(self, *tasks: asyncio.Task) -> None:
        sender, reader, closed = tasks
        self.stop_following()
        reader.cancel()
        closed.cancel()
        if self._close is not None and self._drain and not sender.done():
            # What is already queued (say, the error explaining the close) goes out first,
            # for as long as the socket accepts it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), self.limits.close_timeout_s)
        sender.cancel()
        await asyncio.gather(sender, reader, closed, return_exceptions=True)
        if self._close is not None:
            code, reason = self._close
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(code, reason), self.limits.close_timeout_s)

    async def _send_loop(self) -> None:
        """Everything queued goes out at each wake: in one write where the server can
        (`ws.server_protocol`), frame by frame elsewhere."""
        queue = self._queue
        send_many = SEND_MANY in self.ws.scope.get("extensions", {})
        while True:
            frames = [await queue.get()]
            while not queue.empty():
                frames.append(queue.get_nowait())
            try:
                if send_many:
                    texts = [json_codec.dumps(frame) for frame in frames]
                    await self.ws.send({"type": "websocket.send", "texts": texts})
                else:
                    for frame in frames:
                        await self.ws.send_text(json_codec.dumps(frame))
            finally:
                for _ in frames:
                    queue.task_done()

    async def _read_loop(self, on_text: Callable[[str], Awaitable[None]]) -> None:
        while True:
            timeout = self.limits.auth_timeout_s if self.identity is None else None
            try:
                message = await asyncio.wait_for(self.ws.receive(), timeout)
            except TimeoutError:
                self.close(CLOSE_POLICY, "authentication timeout: send an auth frame first")
                return
            except WebSocketDisconnect:
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                text = _decode_bytes(message.get("bytes"))
                if text is None:
                    bad = BadRequest("Frames must be UTF-8 JSON text", code="INVALID_JSON")
                    self.send_error(bad)
                    continue
            await on_text(text)
            if self._close is not None:
                return


def _decode_bytes(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
