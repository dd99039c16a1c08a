"""Request bodies of the run API: POST /run and /run/stream, approve/reject comments.
May import: pydantic and chat_platform.schemas.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chat_platform.schemas._common import StrictModel

MAX_INPUT_MESSAGES = 100
MAX_CONTENT_CHARS = 100_000


class RunInput(StrictModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_CONTENT_CHARS)


class RunRequest(StrictModel):
    workflow_id: str = Field(min_length=1, max_length=64)
    input: list[RunInput] = Field(min_length=1, max_length=MAX_INPUT_MESSAGES)
    session_id: str | None = Field(default=None, min_length=1, max_length=64)
    variables: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1)


class ApprovalDecision(StrictModel):
    comment: str | None = Field(default=None, max_length=4000)
