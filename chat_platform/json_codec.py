"""Compact JSON for the per-event paths (WebSocket frames, SSE events, provider streams, the
Redis bus): orjson where it can, the standard library where orjson refuses.

Why: the standard library's encoder and decoder were ~9 % of a chat turn's CPU (a turn sends
~16 frames and parses ~20 provider chunks); orjson does the same work several times faster
(bench/PERF-LOG.md, step 9). Output matches `json.dumps(value, separators=(",", ":"),
ensure_ascii=False, default=str)` but for NaN/Infinity (`null` here: they are not JSON) and
float spelling (`1e16` for `1e+16`: the same number).
May import: the standard library and orjson.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Non-string keys as the standard library writes them; datetimes and dataclasses through
# `default=str` as before (orjson would write its own formats).
_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)
_stdlib_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def dumps_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON."""
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS)
    except orjson.JSONEncodeError:  # integers beyond 64 bits, nesting deeper than 254
        return _stdlib_encode(value).encode()


def dumps(value: Any) -> str:
    """Compact JSON text."""
    return dumps_bytes(value).decode()


def loads(data: str | bytes) -> Any:
    """Parsed JSON; ValueError (json.JSONDecodeError) when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # NaN, lone surrogates: what the standard library accepts
        return json.loads(data)
