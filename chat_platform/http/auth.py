"""Authentication at the edge: bearer key → Principal, the role check, and the per-key
rate limit whose headers go on every response (via the request-context middleware).

May import: starlette, services, errors.
"""

from __future__ import annotations

from starlette.requests import Request

from chat_platform.errors import RateLimited
from chat_platform.services.auth import Permission, Principal, verify_api_key


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def authenticate(request: Request, permission: Permission = Permission.READ) -> Principal:
    principal = await verify_api_key(bearer_token(request))
    runtime = request.app.state.runtime
    decision = await runtime.rate_limiter.hit(
        f"key:{principal.key_id}", runtime.settings.rate_limit_per_minute
    )
    request.state.response_headers = {
        **getattr(request.state, "response_headers", {}),
        **decision.headers(),
    }
    if not decision.allowed:
        raise RateLimited("Too many requests per minute", retry_after=decision.retry_after)
    principal.require(permission)
    return principal
