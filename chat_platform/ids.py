"""Prefixed, unguessable identifiers and the one timestamp format of the API.

May import: the standard library only.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime

_ALPHABET = string.ascii_lowercase + string.digits


def new_id(prefix: str, length: int = 20) -> str:
    """`wf_…`, `run_…`: 20 characters of [a-z0-9] ≈ 103 bits of randomness."""
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


def has_prefix(value: object, prefix: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix + "_") and 3 < len(value) <= 64


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`: 2026-01-15T10:30:00.000Z."""
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
