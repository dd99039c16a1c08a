"""Start-up and shut-down hooks of the services (default account, background workers)."""

from __future__ import annotations

from chat_platform.services.auth import ensure_default_account
from chat_platform.services.runtime import Runtime


async def start(runtime: Runtime) -> None:
    await ensure_default_account()


async def stop(runtime: Runtime) -> None:
    return None
