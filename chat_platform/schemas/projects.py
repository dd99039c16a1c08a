"""Request bodies of the projects resource (create and update).

May import: pydantic and chat_platform.schemas.
"""

from __future__ import annotations

from pydantic import Field

from chat_platform.schemas._common import StrictModel


class ProjectCreate(StrictModel):
    name: str = Field(default="New project", min_length=1, max_length=200)


class ProjectUpdate(StrictModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None
