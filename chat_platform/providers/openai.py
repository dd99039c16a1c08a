"""OpenAI chat-completions wire (OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio, llama.cpp):
a thin adapter on providers.http11. Streams `choices[0].delta.content`; token usage from the
final chunk (`stream_options.include_usage`); stops at `[DONE]`.
May import: the standard library, chat_platform.errors/json_codec, providers.base/_http.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from chat_platform import json_codec
from chat_platform.errors import ProviderError
from chat_platform.providers._http import open_stream, read_chunks
from chat_platform.providers.base import ChatChunk, ChatRequest, TokenUsage
from chat_platform.providers.http11 import Client

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIChatModel:
    def __init__(
        self,
        client: Client,
        *,
        api_key: str | None,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self._client = client
        self._api_key = api_key
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._timeout_s = timeout_s
        self._max_retries = max_retries

    def _body(self, request: ChatRequest) -> dict:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        body: dict = {
            "model": request.model or "gpt-4o-mini",
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        if not self._api_key and self._base_url == DEFAULT_BASE_URL:
            raise ProviderError("openai: no API key configured (set the OPENAI_API_KEY secret)")
        headers = {"accept": "text/event-stream"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        async with open_stream(
            self._client,
            "openai",
            f"{self._base_url}/chat/completions",
            headers=headers,
            body=self._body(request),
            timeout_s=self._timeout_s,
            max_retries=self._max_retries,
            secrets=[self._api_key],
        ) as response:
            async for chunk in read_chunks(response, _parse_event):
                yield chunk


def _parse_event(_event: str | None, data: str) -> list[ChatChunk] | None:
    if data.strip() == "[DONE]":
        return None
    try:
        chunk = json_codec.loads(data)
    except ValueError:
        raise ProviderError("openai: malformed stream chunk") from None
    if "error" in chunk:
        err = chunk["error"]
        msg = err.get("message") if isinstance(err, dict) else str(err)
        raise ProviderError(f"openai: {str(msg)[:300]}")
    out = []
    for choice in chunk.get("choices") or []:
        if delta := (choice.get("delta") or {}).get("content"):
            out.append(ChatChunk(delta=delta))
    if usage := chunk.get("usage"):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        out.append(ChatChunk(usage=TokenUsage(int(prompt or 0), int(completion or 0))))
    return out
