"""One module per resource under /api/v1; each exposes `routes`."""

from __future__ import annotations

from types import ModuleType

from chat_platform.http.endpoints import (
    audit,
    keys,
    projects,
    runs,
    secrets,
    sessions,
    teams,
    widgets,
    workflows,
)

# Starlette tries routes in order (a regex match each): the chat turn's own first. Paths are
# anchored patterns, so the order changes no match.
ENDPOINT_MODULES: list[ModuleType] = [
    runs,
    sessions,
    projects,
    workflows,
    secrets,
    keys,
    audit,
    teams,
    widgets,
]
