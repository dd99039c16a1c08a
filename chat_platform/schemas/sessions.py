"""Request body of a chat session: the workflow it belongs to and an optional title.

May import: pydantic and chat_platform.schemas.
"""

from __future__ import annotations

from pydantic import Field

from chat_platform.schemas._common import StrictModel


class SessionCreate(StrictModel):
    workflow_id: str = Field(min_length=1, max_length=64)
    title: str = Field(default="New chat", max_length=200)
