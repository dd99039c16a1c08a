"""Server-Sent Events framing for run streams (sse-starlette): a comment at once, a ping at
least every 15 s, `id:` on every event so a client can resume with Last-Event-ID, and the
anti-buffering headers. As in the spec's "SSE output" sample, `node:text-delta` events go as
`data:` lines without an `event:` line (clients dispatch on the JSON `type`); every other
event carries `event: <type>`.
May import: starlette, sse-starlette, chat_platform.json_codec.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette.sse import EventSourceResponse

from chat_platform import json_codec

PING_SECONDS = 15
UNNAMED = frozenset({"node:text-delta"})
SEP = "\r\n"
_LINE_BREAK = re.compile(r"[\r\n]")


def sse_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "Cache-Control": "no-cache, no-transform",
        "X-Accel-Buffering": "no",
        **(extra or {}),
    }


def encode_event(seq: int, event: dict[str, Any]) -> str:
    """One event in the SSE wire format (`id:`, `event:` unless unnamed, one `data:` line —
    compact JSON never contains a line break)."""
    data = json_codec.dumps(event)
    kind = event.get("type")
    if kind in UNNAMED or not isinstance(kind, str):
        return f"id: {seq}{SEP}data: {data}{SEP}{SEP}"
    kind = _LINE_BREAK.sub("", kind)
    return f"id: {seq}{SEP}event: {kind}{SEP}data: {data}{SEP}{SEP}"


async def _frames(events: AsyncIterator[list[tuple[int, dict[str, Any]]]]) -> AsyncIterator[bytes]:
    yield f": stream open{SEP}{SEP}".encode()
    async for batch in events:  # everything already published goes out in one write
        yield "".join([encode_event(seq, event) for seq, event in batch]).encode()


def event_stream(
    events: AsyncIterator[list[tuple[int, dict[str, Any]]]], headers: dict[str, str] | None = None
) -> EventSourceResponse:
    """An SSE response of batches of (seq, event)."""
    return EventSourceResponse(
        _frames(events), ping=PING_SECONDS, headers=sse_headers(headers), sep=SEP
    )
