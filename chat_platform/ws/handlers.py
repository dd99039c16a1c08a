"""One handler per client frame type of the chat WebSocket (DESIGN §6 table), and `dispatch`,
which turns any failure into an `error` frame (fatal ones also close the socket with a reason)
so a malformed or refused frame never drops the connection silently nor crashes the handler.

Handlers parse nothing and store nothing themselves: frames arrive validated (`frames.py`),
identities and sessions come from services, turns and events go through `bridge.py`.
May import: errors, services, chat_platform.ws.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chat_platform.errors import ApiError, BadRequest, Conflict, Forbidden, Unauthorized
from chat_platform.schemas.sessions import SessionCreate
from chat_platform.services import sessions, widgets
from chat_platform.services.auth import Permission, verify_api_key
from chat_platform.services.visitors import issue_anonymous, verify_visitor_token
from chat_platform.ws import bridge
from chat_platform.ws.connection import CLOSE_POLICY, Connection, Identity, OpenSession
from chat_platform.ws.frames import (
    ApprovalRespondFrame,
    AuthFrame,
    ClientFrame,
    FeedbackFrame,
    MessageSendFrame,
    PingFrame,
    RunCancelFrame,
    SessionOpenFrame,
    parse_frame,
)

log = logging.getLogger("chat_platform.ws")
HISTORY_LIMIT = 50


class Fatal(ApiError):
    """Wraps an error after which the socket closes (bad credentials, refused origin)."""

    def __init__(self, inner: ApiError) -> None:
        super().__init__(inner.message, code=inner.code, status=inner.status)
        self.inner = inner


def _limits(conn: Connection) -> widgets.WidgetLimits:
    settings = conn.runtime.settings
    return conn.runtime.extra("widget_limits", lambda: widgets.WidgetLimits.from_settings(settings))


def _identity(conn: Connection) -> Identity:
    if conn.identity is None:
        raise Unauthorized("Send an auth frame first", code="UNAUTHORIZED")
    return conn.identity


def _session(conn: Connection) -> OpenSession:
    if conn.session is None:
        raise Conflict("Open a session first (session.open)", code="SESSION_NOT_OPEN")
    return conn.session


async def on_auth(conn: Connection, frame: AuthFrame) -> None:
    if conn.identity is not None:
        raise Conflict("This socket is already authenticated")
    runtime = conn.runtime
    if frame.api_key:
        try:
            principal = await verify_api_key(frame.api_key)
        except ApiError as exc:
            raise Fatal(exc) from None
        await widgets.check_rate(
            runtime.rate_limiter,
            f"key:{principal.key_id}",
            runtime.settings.rate_limit_per_minute,
            "requests",
        )
        conn.identity = Identity(principal, client_ip=conn.client_ip)
        conn.send({"type": "auth.ok", "visitor_token": None, "visitor_id": None})
        return
    if not frame.widget_id:
        raise Fatal(
            BadRequest("auth needs api_key, or widget_id (+ visitor_token)", code="MISSING_FIELD")
        )
    if conn.handshake_widget_id and frame.widget_id != conn.handshake_widget_id:
        raise Fatal(Forbidden("widget_id differs from the one in the URL"))
    try:
        widget = await widgets.load_chat_widget(runtime.sealer, frame.widget_id)
        if not widgets.origin_allowed(widget.allowed_origins, conn.origin, conn.own_origins):
            raise Forbidden("This origin may not embed the widget", code="ORIGIN_NOT_ALLOWED")
        await widgets.check_rate(
            runtime.rate_limiter,
            f"widget:ip:{conn.client_ip}:connect",
            _limits(conn).connects_per_ip,
            "connections",
        )
        issued: str | None = None
        if frame.visitor_token:
            visitor = verify_visitor_token(
                frame.visitor_token,
                widget_id=widget.id,
                server_key=runtime.settings.secret_key,
                signing_secret=widget.signing_secret,
            )
        else:
            visitor, issued = issue_anonymous(runtime.settings.secret_key, widget.id)
    except ApiError as exc:
        raise Fatal(exc) from None
    principal = widgets.widget_principal(widget)
    conn.identity = Identity(principal, widget=widget, visitor=visitor, client_ip=conn.client_ip)
    conn.send(
        {
            "type": "auth.ok",
            "visitor_token": issued,
            "visitor_id": visitor.visitor_id,
            "widget": widget.public,
        }
    )


async def _resolve_session(identity: Identity, frame: SessionOpenFrame) -> dict[str, Any]:
    if identity.widget is not None and identity.visitor is not None:
        if frame.workflow_id and frame.workflow_id != identity.widget.workflow_id:
            raise Forbidden("A widget can only chat with its own workflow")
        return await widgets.open_visitor_session(
            identity.widget, identity.visitor, session_id=frame.session_id, new=frame.new
        )
    principal = identity.principal
    if frame.session_id:
        session = await sessions.get_session_view(principal, frame.session_id)
        if frame.workflow_id and frame.workflow_id != session["workflow_id"]:
            raise BadRequest(
                "Session belongs to a different workflow", code="SESSION_WORKFLOW_MISMATCH"
            )
        return session
    if not frame.workflow_id:
        raise BadRequest("Missing required field: workflow_id", code="MISSING_FIELD")
    return await sessions.create_session(principal, SessionCreate(workflow_id=frame.workflow_id))


async def on_session_open(conn: Connection, frame: SessionOpenFrame) -> None:
    identity = _identity(conn)
    session = await _resolve_session(identity, frame)
    bus = bridge.event_bus(conn.runtime)
    channel = bridge.session_channel(session["id"])
    # Latest seq first, history second: an event landing in between is replayed (and may
    # repeat a message already in `messages` — same id), never lost.
    latest = await bridge.latest_seq(bus, channel)
    messages = await sessions.recent_messages(session["id"], HISTORY_LIMIT)  # access checked
    after = latest
    resumed = False
    if frame.resume_after_seq is not None and bridge.can_replay_after(
        latest, frame.resume_after_seq
    ):
        after, resumed = frame.resume_after_seq, True
    conn.stop_following()
    conn.session = OpenSession(session["id"], session["workflow_id"])
    conn.last_seq = after  # replies from now on repeat the seq of the last event delivered
    conn.send(
        {
            "type": "session.ready",
            "session": session,
            "messages": messages,
            "seq": latest,
            "resumed": resumed,
            "active_runs": await sessions.active_runs(session["id"]),
        }
    )
    await conn.follow(lambda: bridge.follow(bus, channel, after, conn.push_event))


async def on_message_send(conn: Connection, frame: MessageSendFrame) -> None:
    identity = _identity(conn)
    session = _session(conn)
    runtime = conn.runtime
    if identity.widget is not None and identity.visitor is not None:
        if frame.variables:
            raise Forbidden("A widget visitor cannot set workflow variables")
        limits = _limits(conn)
        await widgets.check_rate(
            runtime.rate_limiter,
            f"widget:{identity.widget.id}:visitor:{identity.visitor.visitor_id}:messages",
            limits.messages_per_visitor,
            "messages",
        )
        await widgets.check_rate(
            runtime.rate_limiter,
            f"widget:ip:{identity.client_ip}:messages",
            limits.messages_per_ip,
            "messages",
        )
    else:
        identity.principal.require(Permission.RUNS)
        await widgets.check_rate(
            runtime.rate_limiter,
            f"key:{identity.principal.key_id}",
            runtime.settings.rate_limit_per_minute,
            "requests",
        )
    _, is_new = await bridge.start_turn(
        runtime,
        identity.principal,
        session_id=session.id,
        workflow_id=session.workflow_id,
        content=frame.content,
        client_message_id=frame.client_message_id,
        variables=frame.variables,
    )
    if not is_new and frame.client_message_id:
        # A resend (same client_message_id): nothing new starts. If the first send's message is
        # stored, answer with it; if not yet, its message.created is still to come on the bus.
        message = await sessions.message_by_client_id(session.id, frame.client_message_id)
        if message is not None:
            conn.send(
                {
                    "type": "message.created",
                    "message": message,
                    "client_message_id": frame.client_message_id,
                    "duplicate": True,
                }
            )


async def on_run_cancel(conn: Connection, frame: RunCancelFrame) -> None:
    identity = _identity(conn)
    session = _session(conn)
    if identity.widget is None:
        identity.principal.require(Permission.RUNS)
    await bridge.cancel_run(conn.runtime, identity.principal, frame.run_id, session_id=session.id)


async def on_approval_respond(conn: Connection, frame: ApprovalRespondFrame) -> None:
    identity = _identity(conn)
    session = _session(conn)
    # A widget visitor decides the approvals of their own conversation ("Book this flight?");
    # `respond_approval` refuses a run of any other session.
    if identity.widget is None:
        identity.principal.require(Permission.RUNS)
    await bridge.respond_approval(
        conn.runtime,
        identity.principal,
        frame.run_id,
        session_id=session.id,
        decision=frame.decision,
        comment=frame.comment,
    )


async def on_feedback(conn: Connection, frame: FeedbackFrame) -> None:
    _identity(conn)
    session = _session(conn)
    message = await sessions.rate_message(
        session.id, frame.message_id, rating=frame.rating, comment=frame.comment
    )
    conn.send({"type": "feedback.ok", "message_id": message["id"], "rating": frame.rating})


async def on_ping(conn: Connection, frame: PingFrame) -> None:
    conn.send({"type": "pong", "id": frame.id})


HANDLERS: dict[type, Callable[[Connection, Any], Awaitable[None]]] = {
    AuthFrame: on_auth,
    SessionOpenFrame: on_session_open,
    MessageSendFrame: on_message_send,
    RunCancelFrame: on_run_cancel,
    ApprovalRespondFrame: on_approval_respond,
    FeedbackFrame: on_feedback,
    PingFrame: on_ping,
}


async def dispatch(conn: Connection, text: str) -> None:
    """Handle one text frame; every failure becomes an error frame, fatal ones also close."""
    kind: str | None = None
    try:
        frame: ClientFrame = parse_frame(text)
        kind = frame.type
        if conn.identity is None and not isinstance(frame, AuthFrame | PingFrame):
            raise Fatal(Unauthorized("Send an auth frame first", code="UNAUTHORIZED"))
        await HANDLERS[type(frame)](conn, frame)
    except Fatal as exc:
        conn.send_error(exc.inner, frame=kind)
        conn.close(CLOSE_POLICY, f"{exc.inner.code}: {exc.inner.message}")
    except ApiError as exc:
        conn.send_error(exc, frame=kind)
    except Exception:
        log.exception("chat frame %s failed", kind)
        conn.send_error(ApiError("Unexpected server error"), frame=kind)
