"""Request parsing shared by every endpoint: JSON bodies with a size cap, pydantic
validation translated to the spec's codes, path ids, and limit/offset pagination.

May import: starlette, pydantic, chat_platform.errors.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from chat_platform.errors import ApiError, BadRequest, PayloadTooLarge

M = TypeVar("M", bound=BaseModel)


async def read_json(request: Request, *, max_bytes: int | None = None) -> dict[str, Any]:
    """The body as a JSON object. An empty body is `{}` (every field optional)."""
    limit = max_bytes or request.app.state.runtime.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed JSON request body: {exc}", code="INVALID_JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object")
    return data


def validation_error(exc: ValidationError) -> ApiError:
    err = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    if err["type"] == "missing":
        return BadRequest(f"Missing required field: {field}", code="MISSING_FIELD")
    return BadRequest(f"Invalid field '{field}': {err['msg']}")


def parse(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


async def parse_body(request: Request, model: type[M]) -> M:
    return parse(model, await read_json(request))


def pagination(request: Request, *, default: int = 50, maximum: int = 100) -> tuple[int, int]:
    """limit/offset from the query string; over-maximum limits are clamped, junk is a 400."""
    out = []
    for name, fallback, low in (("limit", default, 1), ("offset", 0, 0)):
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            out.append(fallback)
            continue
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"Invalid query parameter '{name}': must be an integer") from None
        if value < low:
            raise BadRequest(f"Invalid query parameter '{name}': must be >= {low}")
        out.append(value)
    return min(out[0], maximum), out[1]
