"""OpenAI chat-completions wire (OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio, llama.cpp):
a thin adapter on providers.http11. Streams `choices[0].delta.content`; token usage from the
final chunk (`stream_options.include_usage`); stops at `[DONE]`.
May import: the standard library, chat_platform.errors, providers.base/_http.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from chat_platform.errors import ProviderError
from chat_platform.providers._http import open_stream, sse_batches
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
            async for batch in sse_batches(response):
                text: list[str] = []  # the deltas of one read become one chunk
                usage: TokenUsage | None = None
                failure: ProviderError | None = None
                done = False
                for _, data in batch:
                    if data.strip() == "[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        failure = ProviderError("openai: malformed stream chunk")
                        break
                    if "error" in chunk:
                        err = chunk["error"]
                        msg = err.get("message") if isinstance(err, dict) else str(err)
                        failure = ProviderError(f"openai: {str(msg)[:300]}")
                        break
                    for choice in chunk.get("choices") or []:
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            text.append(delta)
                    if counts := chunk.get("usage"):
                        usage = TokenUsage(
                            int(counts.get("prompt_tokens") or 0),
                            int(counts.get("completion_tokens") or 0),
                        )
                if text:  # what arrived before a failure is kept as partial text
                    yield ChatChunk(delta="".join(text))
                if failure is not None:
                    raise failure
                if usage is not None:
                    yield ChatChunk(usage=usage)
                if done:
                    return
