"""The built-in offline providers. `echo` streams back the last user message word by word
(whitespace kept, so the deltas join to the message exactly); `echo-transcript` streams every
message it received as `role: content` lines (system first). Both honour `delay_ms` in the
node data and report word counts as token usage. Deterministic: tests and demos use them.
May import: the standard library and chat_platform.providers.base.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from chat_platform.errors import ProviderError
from chat_platform.providers.base import ChatChunk, ChatRequest, TokenUsage

_WORDS = re.compile(r"\s*\S+")
MAX_DELAY_MS = 10_000


def _delay(request: ChatRequest) -> float:
    raw = request.options.get("delay_ms", 0)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw < 0:
        raise ProviderError("echo: delay_ms must be a non-negative number")
    return min(float(raw), MAX_DELAY_MS) / 1000


def _input_tokens(request: ChatRequest) -> int:
    text = " ".join(m.content for m in request.messages) + " " + (request.system or "")
    return len(text.split())


async def _stream_words(text: str, request: ChatRequest) -> AsyncIterator[ChatChunk]:
    delay = _delay(request)
    words = _WORDS.findall(text)
    if text and not words:
        words = [text]
    elif words and len("".join(words)) < len(text):
        words[-1] += text[len("".join(words)) :]  # trailing whitespace
    for word in words:
        if delay:
            await asyncio.sleep(delay)
        yield ChatChunk(delta=word)
    yield ChatChunk(usage=TokenUsage(_input_tokens(request), len(words)))


class EchoChatModel:
    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        text = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        async for chunk in _stream_words(text, request):
            yield chunk


class EchoTranscriptChatModel:
    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        lines = [f"system: {request.system}"] if request.system else []
        lines += [f"{m.role}: {m.content}" for m in request.messages]
        async for chunk in _stream_words("\n".join(lines), request):
            yield chunk
