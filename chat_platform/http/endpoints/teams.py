"""Teams / Bot Framework integration endpoints (the routes live with the integration)."""

from __future__ import annotations

from chat_platform.integrations.teams.webhook import routes

__all__ = ["routes"]
