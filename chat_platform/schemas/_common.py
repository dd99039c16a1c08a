"""Shared building blocks of the request schemas: the strict base model (unknown fields ignored,
no silent coercion), and validators for "array or stringified JSON" graph fields and settings.

May import: pydantic and the standard library.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

MAX_SETTINGS_BYTES = 100 * 1024
MAX_GRAPH_STRING_BYTES = 2 * 1024 * 1024


class StrictModel(BaseModel):
    """Extra fields are ignored; a number where a string belongs is an error, not coerced."""

    model_config = ConfigDict(extra="ignore", strict=True)


def _decode(value: str, limit: int, what: str) -> Any:
    if len(value.encode()) > limit:
        raise ValueError(f"must be at most {limit} bytes")
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise ValueError(f"must be a JSON {what} or a string holding one") from None


def json_array_of_objects(value: Any, *, max_items: int) -> list[dict[str, Any]] | None:
    """An array of objects given as such or as stringified JSON; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _decode(value, MAX_GRAPH_STRING_BYTES, "array")
    if not isinstance(value, list):
        raise ValueError("must be an array or a string holding a JSON array")
    if len(value) > max_items:
        raise ValueError(f"must hold at most {max_items} items")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"item {i} must be an object")
    return value


def json_object(value: Any) -> dict[str, Any] | None:
    """An object given as such or as stringified JSON, at most 100 KB serialized."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _decode(value, MAX_SETTINGS_BYTES, "object")
    if not isinstance(value, dict):
        raise ValueError("must be an object or a string holding a JSON object")
    if len(json.dumps(value).encode()) > MAX_SETTINGS_BYTES:
        raise ValueError(f"must be at most {MAX_SETTINGS_BYTES} bytes")
    return value
