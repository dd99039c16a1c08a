"""Local stand-ins for remote model APIs, speaking their real streaming wire formats: OpenAI
chat.completions (SSE `data:` chunks, a usage chunk, `[DONE]`) and Anthropic messages
(`event:` + `data:` lines). Configurable failures; every request is recorded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class FakeLLM:
    tokens: list[str] = field(default_factory=lambda: ["Hello", " there"])
    fail_first: int = 0
    fail_status: int = 429
    retry_after: str | None = "0"
    mid_stream_error: bool = False
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    def _failure(self, request: Request) -> Response | None:
        if len(self.requests) <= self.fail_first:
            headers = {"retry-after": self.retry_after} if self.retry_after else {}
            auth = request.headers.get("authorization") or request.headers.get("x-api-key")
            return JSONResponse(
                {"error": {"message": f"slow down {auth}"}},
                status_code=self.fail_status,
                headers=headers,
            )
        return None

    async def openai(self, request: Request) -> Response:
        self.requests.append({"body": await request.json(), "headers": dict(request.headers)})
        if (failure := self._failure(request)) is not None:
            return failure

        async def body() -> AsyncIterator[bytes]:
            for i, tok in enumerate(self.tokens):
                await asyncio.sleep(self.delay_s)
                if self.mid_stream_error and i == 1:
                    raise RuntimeError("connection dropped")
                chunk = {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": tok}, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            usage = {
                "id": "c",
                "choices": [],
                "usage": {"prompt_tokens": 7, "completion_tokens": len(self.tokens)},
            }
            yield f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode()

        return StreamingResponse(body(), media_type="text/event-stream")

    async def anthropic(self, request: Request) -> Response:
        self.requests.append({"body": await request.json(), "headers": dict(request.headers)})
        if (failure := self._failure(request)) is not None:
            return failure

        def event(name: str, data: dict) -> bytes:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

        async def body() -> AsyncIterator[bytes]:
            yield event("message_start", {"message": {"usage": {"input_tokens": 9}}})
            yield event("ping", {})
            for i, tok in enumerate(self.tokens):
                await asyncio.sleep(self.delay_s)
                if self.mid_stream_error and i == 1:
                    yield event(
                        "error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}
                    )
                    return
                yield event(
                    "content_block_delta",
                    {"index": 0, "delta": {"type": "text_delta", "text": tok}},
                )
            yield event(
                "message_delta",
                {
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": len(self.tokens)},
                },
            )
            yield event("message_stop", {})

        return StreamingResponse(body(), media_type="text/event-stream")


@contextlib.asynccontextmanager
async def serve_fake(fake: FakeLLM) -> AsyncIterator[FakeLLM]:
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", fake.openai, methods=["POST"]),
            Route("/v1/messages", fake.anthropic, methods=["POST"]),
        ]
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.01)
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        await task
