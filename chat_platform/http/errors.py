"""The one place where errors become the envelope {"error": {code, message, request_id}}.

May import: starlette and chat_platform.errors.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from chat_platform.errors import ApiError

_HTTP_CODES = {
    400: "INVALID_INPUT",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMITED",
}


def error_body(code: str, message: str, request_id: str) -> dict:
    return {"error": {"code": code, "message": message, "request_id": request_id}}


def _request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "")


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.code, exc.message, _request_id(request)),
        status_code=exc.status,
        headers=exc.headers or None,
    )


async def http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "INTERNAL_ERROR")
    message = {404: "Resource not found", 405: "Method not allowed"}.get(
        exc.status_code, str(exc.detail)
    )
    return JSONResponse(
        error_body(code, message, _request_id(request)),
        status_code=exc.status_code,
        headers=exc.headers,
    )


EXCEPTION_HANDLERS = {ApiError: api_error_handler, HTTPException: http_exception_handler}
