"""Wire shapes of the chat WebSocket (DESIGN §6): one pydantic model per client frame type,
`parse_frame` (text → frame, or an ApiError naming what is wrong), and the builders of the
server frames that are not bus events (`auth.ok`, `session.ready`, `pong`, `error`).

Names and fields follow the DESIGN table; extensions are additive (`new` on `session.open`,
`id` echoed by `pong`, `frame` on `error`, `widget` on `auth.ok`, `active_runs` on
`session.ready`, the `feedback` frame answered by `feedback.ok`).
May import: pydantic, errors, chat_platform.schemas.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, ValidationError

from chat_platform.errors import ApiError, BadRequest
from chat_platform.schemas._common import StrictModel, json_object

MAX_CONTENT_CHARS = 32_000


class AuthFrame(StrictModel):
    type: Literal["auth"]
    api_key: str | None = Field(default=None, max_length=200)
    widget_id: str | None = Field(default=None, max_length=64)
    visitor_token: str | None = Field(default=None, max_length=4096)


class SessionOpenFrame(StrictModel):
    type: Literal["session.open"]
    workflow_id: str | None = Field(default=None, max_length=64)
    session_id: str | None = Field(default=None, max_length=64)
    resume_after_seq: int | None = Field(default=None, ge=0)
    new: bool = False  # extension: start a fresh conversation instead of the latest one


class MessageSendFrame(StrictModel):
    type: Literal["message.send"]
    content: str = Field(min_length=1, max_length=MAX_CONTENT_CHARS)
    client_message_id: str | None = Field(default=None, min_length=1, max_length=128)
    variables: dict[str, Any] | None = None


class RunCancelFrame(StrictModel):
    type: Literal["run.cancel"]
    run_id: str = Field(min_length=1, max_length=64)


class ApprovalRespondFrame(StrictModel):
    type: Literal["approval.respond"]
    run_id: str = Field(min_length=1, max_length=64)
    decision: Literal["approve", "reject"]
    comment: str | None = Field(default=None, max_length=4000)


class FeedbackFrame(StrictModel):
    """Extension: a rating of an assistant answer (the widget's feedback buttons); `rating`
    null withdraws it."""

    type: Literal["feedback"]
    message_id: str = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"] | None
    comment: str | None = Field(default=None, max_length=2000)


class PingFrame(StrictModel):
    type: Literal["ping"]
    id: str | int | None = None


ClientFrame = (
    AuthFrame
    | SessionOpenFrame
    | MessageSendFrame
    | RunCancelFrame
    | ApprovalRespondFrame
    | FeedbackFrame
    | PingFrame
)
FRAME_MODELS: dict[str, type[StrictModel]] = {
    "auth": AuthFrame,
    "session.open": SessionOpenFrame,
    "message.send": MessageSendFrame,
    "run.cancel": RunCancelFrame,
    "approval.respond": ApprovalRespondFrame,
    "feedback": FeedbackFrame,
    "ping": PingFrame,
}


def _validation_error(exc: ValidationError) -> ApiError:
    err = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in err["loc"]) or "frame"
    if err["type"] == "missing":
        return BadRequest(f"Missing required field: {field}", code="MISSING_FIELD")
    return BadRequest(f"Invalid field '{field}': {err['msg']}")


def parse_frame(text: str) -> ClientFrame:
    """A client frame, or BadRequest (INVALID_JSON / MISSING_FIELD / VALIDATION_ERROR)."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise BadRequest("Frame is not valid JSON", code="INVALID_JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("Frame must be a JSON object with a 'type'")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise BadRequest("Missing required field: type", code="MISSING_FIELD")
    model = FRAME_MODELS.get(kind)
    if model is None:
        known = ", ".join(FRAME_MODELS)
        raise BadRequest(f"Unknown frame type '{kind[:64]}' (expected one of: {known})")
    try:
        frame = model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    if isinstance(frame, MessageSendFrame) and frame.variables is not None:
        try:
            frame.variables = json_object(frame.variables)
        except ValueError as exc:
            raise BadRequest(f"Invalid field 'variables': {exc}") from None
    return frame  # type: ignore[return-value]


def error_frame(exc: ApiError, *, frame: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "error", "code": exc.code, "message": exc.message}
    if frame:
        out["frame"] = frame
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        out["retry_after"] = retry_after
    return out
