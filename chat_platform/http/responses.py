"""Response helpers: compact JSON with the right status."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=_default)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204)
