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

ENDPOINT_MODULES: list[ModuleType] = [
    projects,
    workflows,
    secrets,
    sessions,
    keys,
    audit,
    runs,
    teams,
    widgets,
]
