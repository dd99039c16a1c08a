"""Prefixed, unguessable identifiers and the one timestamp format of the API.

May import: the standard library only.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

# Byte → one of the 32 characters of [a-z2-7] by its low 5 bits: uniform, as 256 = 8 × 32.
_BASE32 = bytes(b"abcdefghijklmnopqrstuvwxyz234567"[b & 31] for b in range(256))


def new_id(prefix: str, length: int = 20) -> str:
    """`wf_…`, `run_…`: characters of [a-z2-7] (base32), 5 random bits each: 100 bits for 20.
    One urandom read, mapped in C (choosing characters one by one cost ~25 µs; the standard
    library's base32 encoder is Python, ~5 µs)."""
    return f"{prefix}_{os.urandom(length).translate(_BASE32).decode('ascii')}"


def has_prefix(value: object, prefix: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix + "_") and 3 < len(value) <= 64


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`: 2026-01-15T10:30:00.000Z."""
    if ts is None:
        return None
    if ts.tzinfo is not UTC:
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return _iso_utc(ts)


def now_iso() -> str:
    return _iso_utc(datetime.now(UTC))


def _iso_utc(ts: datetime) -> str:
    return f"{utc_second(ts)}.{ts.microsecond // 1000:03d}Z"


_seconds: dict[str, tuple[tuple[int, ...], str]] = {}


def utc_second(ts: datetime, sep: str = "T") -> str:
    """`2026-01-15T10:30:00` of an aware UTC datetime, formatted once per second: isoformat
    and strftime go through C's printf machinery (~7,000 instructions a call; a chat turn
    formats a dozen timestamps)."""
    key = (ts.year, ts.month, ts.day, ts.hour, ts.minute, ts.second)
    cached = _seconds.get(sep)
    if cached is None or cached[0] != key:
        cached = _seconds[sep] = (key, ts.replace(microsecond=0, tzinfo=None).isoformat(sep))
    return cached[1]
