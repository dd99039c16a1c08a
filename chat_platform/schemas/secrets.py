"""Request body of a secret (project or workflow scope): a name and a write-only value.

May import: pydantic and chat_platform.schemas.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from chat_platform.schemas._common import StrictModel

SECRET_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]{0,127}$"
MAX_SECRET_VALUE_BYTES = 10 * 1024


class SecretCreate(StrictModel):
    name: str = Field(pattern=SECRET_NAME_PATTERN)
    value: str

    @field_validator("value")
    @classmethod
    def _value_size(cls, value: str) -> str:
        if len(value.encode()) > MAX_SECRET_VALUE_BYTES:
            raise ValueError(f"must be at most {MAX_SECRET_VALUE_BYTES} bytes")
        return value
