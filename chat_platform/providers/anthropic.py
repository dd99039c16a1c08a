"""Anthropic Messages wire: a thin adapter on providers.http11. `message_start` carries
input tokens, `content_block_delta`/`text_delta` the text, `message_delta` output tokens; `ping` is
ignored and a mid-stream `error` event becomes ProviderError.
May import: the standard library, chat_platform.errors/json_codec, providers.base/_http.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from chat_platform import json_codec
from chat_platform.errors import ProviderError
from chat_platform.providers._http import open_stream, read_chunks
from chat_platform.providers.base import ChatChunk, ChatRequest, TokenUsage
from chat_platform.providers.http11 import Client

DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicChatModel:
    def __init__(
        self,
        client: Client,
        *,
        api_key: str | None,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        anthropic_version: str = "2023-06-01",
    ) -> None:
        self._client = client
        self._api_key = api_key
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._version = anthropic_version

    def _body(self, request: ChatRequest) -> dict:
        system = [request.system] if request.system else []
        messages = []
        for m in request.messages:
            if m.role == "system":
                system.append(m.content)
            else:
                messages.append({"role": m.role, "content": m.content})
        body: dict = {
            "model": request.model or "claude-sonnet-4-6",
            "messages": messages,
            "max_tokens": request.max_tokens or 1024,
            "stream": True,
        }
        if system:
            body["system"] = "\n\n".join(system)
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        if not self._api_key:
            raise ProviderError(
                "anthropic: no API key configured (set the ANTHROPIC_API_KEY secret)"
            )
        headers = {
            "x-api-key": self._api_key,
            "anthropic-version": self._version,
            "accept": "text/event-stream",
        }
        async with open_stream(
            self._client,
            "anthropic",
            f"{self._base_url}/v1/messages",
            headers=headers,
            body=self._body(request),
            timeout_s=self._timeout_s,
            max_retries=self._max_retries,
            secrets=[self._api_key],
        ) as response:
            async for chunk in read_chunks(response, _EventParser()):
                yield chunk


class _EventParser:
    """Reads one event at a time; remembers the input tokens of `message_start`."""

    def __init__(self) -> None:
        self.input_tokens = 0

    def __call__(self, event: str | None, data: str) -> list[ChatChunk] | None:
        try:
            payload = json_codec.loads(data)
        except ValueError:
            raise ProviderError("anthropic: malformed stream event") from None
        kind = event or payload.get("type")
        if kind == "message_start":
            usage = (payload.get("message") or {}).get("usage") or {}
            self.input_tokens = int(usage.get("input_tokens") or 0)
        elif kind == "content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [ChatChunk(delta=delta["text"])]
        elif kind == "message_delta":
            output = int((payload.get("usage") or {}).get("output_tokens") or 0)
            return [ChatChunk(usage=TokenUsage(self.input_tokens, output))]
        elif kind == "error":
            err = payload.get("error") or {}
            raise ProviderError(
                f"anthropic: {err.get('type', 'error')}: {str(err.get('message'))[:300]}",
                retryable=err.get("type") == "overloaded_error",
            )
        elif kind == "message_stop":
            return None
        return []
