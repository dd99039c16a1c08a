"""Prefixed, unguessable identifiers and the one timestamp format of the API.

May import: the standard library only.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime


def new_id(prefix: str, length: int = 20) -> str:
    """`wf_…`, `run_…`: characters of [a-z2-7] (base32), 5 bits each: 100 bits for 20.
    One urandom read (choosing characters one by one cost ~25 µs, several per turn)."""
    raw = base64.b32encode(os.urandom((length * 5 + 7) // 8)).decode("ascii")
    return f"{prefix}_{raw[:length].lower()}"


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
