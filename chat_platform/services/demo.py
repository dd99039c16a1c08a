"""The ready-made demo workflow (created on first `serve`) and the start-up banner."""

from __future__ import annotations

import sys

from chat_platform.config import Settings


async def announce_demo(settings: Settings, host: str, port: int) -> None:
    print(f"chat-platform listening on http://{host}:{port}", file=sys.stderr)
