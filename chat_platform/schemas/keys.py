"""Request body of an API key: its role, optional project scope and a display name.

May import: pydantic and chat_platform.schemas.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chat_platform.schemas._common import StrictModel


class KeyCreate(StrictModel):
    role: Literal["admin", "builder", "operator", "viewer"]
    project_id: str | None = Field(default=None, min_length=1, max_length=64)
    name: str = Field(default="", max_length=200)
