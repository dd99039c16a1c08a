"""The runtime: long-lived collaborators every use case needs, built once per process by
`create_app`'s lifespan (settings, secret sealer, rate limiter, event bus, HTTP clients).

May import: services' adapters (store, bus, providers) and the standard library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from chat_platform.bus.events import EventBus, MemoryEventBus
from chat_platform.bus.locks import MemorySessionLocks, SessionLocks
from chat_platform.bus.ratelimit import RateLimiter
from chat_platform.config import Settings
from chat_platform.providers.http11 import Client as ProviderClient
from chat_platform.store.sealing import Sealer

T = TypeVar("T")


@dataclass
class Runtime:
    settings: Settings
    sealer: Sealer
    rate_limiter: RateLimiter
    http: httpx.AsyncClient  # Teams and other cold paths
    provider_http: ProviderClient = field(default_factory=ProviderClient)  # model streams
    bus: EventBus = field(default_factory=MemoryEventBus)
    locks: SessionLocks = field(default_factory=MemorySessionLocks)
    redis: Any = None
    runs: Any = None  # services.turns.RunManager, set by lifecycle.start
    extras: dict[str, Any] = field(default_factory=dict)

    def extra(self, name: str, make: Callable[[], T]) -> T:
        """The process-wide helper kept under `name`, made by `make()` on first use (tests may
        put their own there first)."""
        value = self.extras.get(name)
        if value is None:
            value = self.extras[name] = make()
        return value

    async def aclose(self) -> None:
        await self.bus.close()
        await self.http.aclose()
        await self.provider_http.aclose()
        if self.redis is not None:
            await self.redis.aclose()
