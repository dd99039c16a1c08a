"""A local OpenAI-compatible chat-completions server for benchmarks: streams N tokens with
an optional delay, in the real wire format (SSE `data:` chunks, a usage chunk, `[DONE]`).

    python bench/openai_stub.py --port 9100 --tokens 20 --delay-ms 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route


def make_app(tokens: int, delay_ms: float) -> Starlette:
    async def completions(request: Request) -> StreamingResponse:
        body = await request.json()
        created = int(time.time())

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            data = {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.get("model", "stub"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        async def stream():
            yield chunk({"role": "assistant", "content": ""})
            for i in range(tokens):
                if delay_ms:
                    await asyncio.sleep(delay_ms / 1000)
                yield chunk({"content": f" tok{i}"})
            yield chunk({}, "stop")
            usage = {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.get("model", "stub"),
                "choices": [],
                "usage": {
                    "prompt_tokens": 10,
                    "completion_tokens": tokens,
                    "total_tokens": 10 + tokens,
                },
            }
            yield b"data: " + json.dumps(usage).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.tokens, args.delay_ms), host="127.0.0.1", port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
