"""Server-Sent Events framing for run streams (sse-starlette): a comment at once, a ping at
least every 15 s, `id:` on every event so a client can resume with Last-Event-ID, and the
anti-buffering headers. As in the spec's "SSE output" sample, `node:text-delta` events go as
`data:` lines without an `event:` line (clients dispatch on the JSON `type`); every other
event carries `event: <type>`.
May import: starlette, sse-starlette.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette.sse import EventSourceResponse, ServerSentEvent

PING_SECONDS = 15
UNNAMED = frozenset({"node:text-delta"})


def sse_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "Cache-Control": "no-cache, no-transform",
        "X-Accel-Buffering": "no",
        **(extra or {}),
    }


async def _frames(
    events: AsyncIterator[tuple[int, dict[str, Any]]],
) -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(comment="stream open")
    async for seq, event in events:
        data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        kind = event.get("type")
        yield ServerSentEvent(data=data, event=None if kind in UNNAMED else kind, id=str(seq))


def event_stream(
    events: AsyncIterator[tuple[int, dict[str, Any]]], headers: dict[str, str] | None = None
) -> EventSourceResponse:
    return EventSourceResponse(_frames(events), ping=PING_SECONDS, headers=sse_headers(headers))
