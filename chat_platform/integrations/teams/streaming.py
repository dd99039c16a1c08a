"""Writing one answer into a conversation. In Teams one-on-one chats it follows the bot
streaming protocol: an informative typing activity (streamSequence 1; its id becomes the
streamId), then typing activities carrying the cumulative text with the streamId and an
increasing streamSequence, no more often than `min_interval_s`, then the final message with
streamType "final". Elsewhere it sends a typing indicator and one final message. Markdown is
declared; an answer over `max_bytes` is split into several messages (the streamed preview stops
at the limit). A failed stream update stops the stream, never the answer.
May import: the standard library and `connector`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from chat_platform.integrations.teams.connector import ConnectorClient, ConnectorError

log = logging.getLogger("chat_platform.teams")

# Teams rejects messages over ~28 KB including the envelope; stay well under it.
MAX_MESSAGE_BYTES = 24_000


def split_text(text: str, max_bytes: int = MAX_MESSAGE_BYTES) -> list[str]:
    """Chunks of at most `max_bytes` UTF-8 bytes, cut at a paragraph, line or word if possible."""
    chunks: list[str] = []
    rest = text
    while len(rest.encode()) > max_bytes:
        prefix = rest.encode()[:max_bytes].decode(errors="ignore")
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = prefix.rfind(sep)
            if cut > len(prefix) // 2:
                break
        if cut <= len(prefix) // 2:
            cut = len(prefix)
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest or not chunks:
        chunks.append(rest)
    return chunks


def _stream_entity(stream_type: str, stream_id: str | None, seq: int | None) -> dict[str, Any]:
    entity: dict[str, Any] = {"type": "streaminfo", "streamType": stream_type}
    if stream_id:
        entity["streamId"] = stream_id
    if seq is not None:
        entity["streamSequence"] = seq
    return entity


class ReplyWriter:
    """One answer: `start()`, any number of `push(delta)`, then `finish()`."""

    def __init__(
        self,
        connector: ConnectorClient,
        *,
        service_url: str,
        conversation_id: str,
        reply_to_id: str | None,
        streaming: bool,
        min_interval_s: float = 1.5,
        max_bytes: int = MAX_MESSAGE_BYTES,
        informative_text: str = "Working on it…",
        typing_interval_s: float = 3.0,
        base: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connector = connector
        self._service_url = service_url
        self._conversation_id = conversation_id
        self._reply_to_id = reply_to_id
        self.streaming = streaming
        self._min_interval_s = min_interval_s
        self._max_bytes = max_bytes
        self._informative_text = informative_text
        self._typing_interval_s = typing_interval_s
        self._base = base or {}
        self._clock = clock
        self.text = ""
        self.stream_id: str | None = None
        self._seq = 0
        self._last_sent = 0.0
        self._sent_text = ""

    async def _send(self, activity: dict[str, Any]) -> str | None:
        return await self._connector.send(
            self._service_url,
            self._conversation_id,
            {**self._base, **activity},
            reply_to_id=self._reply_to_id,
        )

    async def start(self) -> None:
        """The informative update (streaming) or a typing indicator; failures are only logged."""
        try:
            if self.streaming:
                self._seq = 1
                self.stream_id = await self._send(
                    {
                        "type": "typing",
                        "text": self._informative_text,
                        "entities": [_stream_entity("informative", None, 1)],
                    }
                )
                self._last_sent = self._clock()
                if not self.stream_id:
                    self.streaming = False
            else:
                await self._send({"type": "typing"})
                self._last_sent = self._clock()
        except ConnectorError as exc:
            log.warning("teams: could not start the reply (%s)", exc)
            self.streaming = False

    async def push(self, delta: str) -> None:
        self.text += delta
        if not self.streaming or not self.stream_id:
            await self._keep_typing()
            return
        if self._clock() - self._last_sent < self._min_interval_s:
            return
        await self._update()

    async def _keep_typing(self) -> None:
        """Without streaming, a typing indicator every few seconds while the answer grows."""
        if self._clock() - self._last_sent < self._typing_interval_s:
            return
        self._last_sent = self._clock()
        try:
            await self._send({"type": "typing"})
        except ConnectorError as exc:
            log.warning("teams: typing indicator failed (%s)", exc)

    async def _update(self) -> None:
        if len(self.text.encode()) > self._max_bytes or self.text == self._sent_text:
            return
        self._seq += 1
        try:
            await self._send(
                {
                    "type": "typing",
                    "text": self.text,
                    "entities": [_stream_entity("streaming", self.stream_id, self._seq)],
                }
            )
            self._sent_text = self.text
        except ConnectorError as exc:
            log.warning("teams: stream update failed, sending the final message only (%s)", exc)
            self.streaming = False
        self._last_sent = self._clock()

    async def finish(self, text: str | None = None) -> list[str | None]:
        """Send the final message(s); raises ConnectorError if the answer could not be sent."""
        final = self.text if text is None else text
        if not final.strip():
            final = "(no answer)"
        ids: list[str | None] = []
        for index, chunk in enumerate(split_text(final, self._max_bytes)):
            activity: dict[str, Any] = {"type": "message", "text": chunk, "textFormat": "markdown"}
            if index == 0 and self.stream_id:
                activity["entities"] = [_stream_entity("final", self.stream_id, None)]
            ids.append(await self._send(activity))
        return ids
