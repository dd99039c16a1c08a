"""The one error hierarchy of chat-platform.

Pure module: imports nothing from the project, so every layer may use it.

    ChatPlatformError
    ├── ConfigurationError        misconfigured server: fail at start-up, never per request
    ├── ExpressionError           a CEL expression or template failed to compile or evaluate
    ├── WorkflowDefinitionError   the graph is invalid (publish-time; carries node_id)
    ├── ProviderError             the upstream model failed (carries status, retryable)
    │   └── ProviderTimeout       the upstream model did not answer in time
    └── ApiError                  client-facing: code + HTTP status + message → error envelope
        ├── BadRequest            400 (VALIDATION_ERROR unless a more precise code is given)
        ├── Unauthorized          401
        ├── Forbidden             403
        ├── NotFound              404
        ├── Conflict              409
        ├── PayloadTooLarge       413
        └── RateLimited           429 (carries retry_after seconds)

"The graph is invalid" (WorkflowDefinitionError) is kept apart from "the run failed"
(a run's status and error fields), and both apart from bad requests. Services translate
domain errors into ApiError; the HTTP layer turns ApiError into the envelope in one place.
"""

from __future__ import annotations


class ChatPlatformError(Exception):
    """Base of every error raised on purpose by chat-platform."""


class ConfigurationError(ChatPlatformError):
    """The server is misconfigured; raised at start-up."""


class ExpressionError(ChatPlatformError):
    """A CEL expression or template could not be compiled or evaluated."""

    def __init__(self, message: str, *, expression: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression


class WorkflowDefinitionError(ChatPlatformError):
    """The workflow graph is invalid; node_id names the offending node when known."""

    def __init__(self, message: str, *, node_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.node_id = node_id


class ProviderError(ChatPlatformError):
    """The model provider failed. The message never contains credentials."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable


class ProviderTimeout(ProviderError):
    """The model provider did not answer within the configured timeout."""

    def __init__(self, message: str = "Provider timeout") -> None:
        super().__init__(message, retryable=True)


class ApiError(ChatPlatformError):
    """An error answered to the client as {"error": {"code", "message", "request_id"}}."""

    status: int = 500
    code: str = "INTERNAL_ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}


class BadRequest(ApiError):
    status = 400
    code = "VALIDATION_ERROR"


class Unauthorized(ApiError):
    status = 401
    code = "INVALID_API_KEY"


class Forbidden(ApiError):
    status = 403
    code = "FORBIDDEN"


class NotFound(ApiError):
    status = 404
    code = "NOT_FOUND"


class Conflict(ApiError):
    status = 409
    code = "CONFLICT"


class PayloadTooLarge(ApiError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class RateLimited(ApiError):
    status = 429
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after
