"""The chat socket's one seam to the event bus and the run service: which channel a session's
frames travel on, the latest seq and replay window of that channel, following it from a seq,
turning a bus event into a frame, and starting / cancelling / deciding a turn.

Everything the WebSocket knows about `chat_platform.bus` and `chat_platform.services.runs` is
in this module, so a change in either is a change here only.
May import: bus, errors, services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chat_platform.bus.events import REPLAY_LOG_SIZE, Detach, EventBus
from chat_platform.errors import Forbidden, NotFound
from chat_platform.schemas.runs import RunInput, RunRequest
from chat_platform.services import runs
from chat_platform.services.auth import Principal

DECISIONS = {"approve": "approved", "reject": "rejected"}


def event_bus(runtime: Any) -> EventBus:
    return runtime.bus


def session_channel(session_id: str) -> str:
    return f"session:{session_id}"


async def latest_seq(bus: EventBus, channel: str) -> int:
    return await bus.last_seq(channel)


def can_replay_after(latest: int, after: int) -> bool:
    """Whether every event after `after` is still in the channel's replay log.

    The log keeps the last REPLAY_LOG_SIZE events (and, on Redis, expires with the seq counter,
    so an expired log shows as a seq that went backwards: `after > latest`).
    """
    return 0 <= after <= latest and latest - after <= REPLAY_LOG_SIZE


async def follow(
    bus: EventBus, channel: str, after_seq: int, push: Callable[[dict[str, Any], int], None]
) -> Detach:
    """`push(frame, seq)` for each event after `after_seq`, in place as it is published."""
    return await bus.attach(channel, after_seq, lambda seq, event: push(event_frame(event), seq))


def event_frame(event: dict[str, Any]) -> dict[str, Any]:
    """A bus event as a frame of its own (a new dict: the caller adds `seq`): run events
    verbatim (SSE names and payloads), messages with the client's id of the user's own
    message."""
    if event.get("type") == "message.created":
        message = event.get("message") or {}
        return {
            "type": "message.created",
            "message": message,
            "client_message_id": event.get("client_message_id"),
        }
    return dict(event)


def idempotency_key(session_id: str, client_message_id: str | None) -> str | None:
    """A resent client message id maps onto the run it already started (per key/widget)."""
    if not client_message_id:
        return None
    return f"ws:{session_id}:{client_message_id}"


async def start_turn(
    runtime: Any,
    principal: Principal,
    *,
    session_id: str,
    workflow_id: str,
    content: str,
    client_message_id: str | None,
    variables: dict[str, Any] | None,
) -> tuple[str, bool]:
    """Launch a turn in the background; (run id, whether it is new — False for a resend)."""
    body = RunRequest(
        workflow_id=workflow_id,
        session_id=session_id,
        input=[RunInput(role="user", content=content)],
        variables=variables or {},
    )
    run, task, _headers = await runs.start_run(
        runtime,
        principal,
        body,
        idempotency_key=idempotency_key(session_id, client_message_id),
        client_message_id=client_message_id,
    )
    return run.id, task is not None


async def _run_of_session(principal: Principal, run_id: str, session_id: str) -> dict[str, Any]:
    run = await runs.get_run_detail(principal, run_id)
    if run["session_id"] != session_id:
        raise NotFound("Run not found")
    return run


async def cancel_run(runtime: Any, principal: Principal, run_id: str, *, session_id: str) -> None:
    await _run_of_session(principal, run_id, session_id)
    await runs.cancel_run(runtime, principal, run_id)


async def respond_approval(
    runtime: Any,
    principal: Principal,
    run_id: str,
    *,
    session_id: str,
    decision: str,
    comment: str | None,
) -> None:
    if decision not in DECISIONS:
        raise Forbidden("decision must be approve or reject")
    await _run_of_session(principal, run_id, session_id)
    await runs.decide(runtime, principal, run_id, DECISIONS[decision], comment)
