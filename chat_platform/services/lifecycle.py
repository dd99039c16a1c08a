"""Start-up and shut-down hooks of the services (default account, background workers)."""

from __future__ import annotations

from chat_platform.services.auth import ensure_default_account
from chat_platform.services.runtime import Runtime


async def start(runtime: Runtime) -> None:
    from chat_platform.services.turns import RunManager

    await ensure_default_account()
    await runtime.bus.start()
    runtime.runs = RunManager(runtime)


async def stop(runtime: Runtime) -> None:
    teams = runtime.extras.get("teams")
    if teams is not None:
        await teams.drain()
    if runtime.runs is not None:
        await runtime.runs.stop()
