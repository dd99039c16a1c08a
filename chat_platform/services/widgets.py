"""Widgets as use cases: create / list / get / update / delete the binding of a published
workflow to a public chat widget (`wgt_…`), and what the chat transport needs from a widget:
its public configuration, the Origin check against its allow-list, its visitor signing secret
(sealed at rest, returned once at creation — or again when rotated — and never in a view), and
the per-visitor / per-IP rate limits that protect a public widget from abuse.
May import: store, errors, ids, schemas, services (access, auth, views, visitors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chat_platform.errors import BadRequest, NotFound, RateLimited
from chat_platform.ids import has_prefix, iso, new_id
from chat_platform.schemas.widgets import WidgetCreate, WidgetUpdate
from chat_platform.services import audit
from chat_platform.services.access import get_bound, get_published_workflow
from chat_platform.services.audit import AuditAction
from chat_platform.services.auth import Permission, Principal, Role
from chat_platform.services.views import page, session_view
from chat_platform.services.visitors import Visitor, new_signing_secret
from chat_platform.store.models import Message, Session, Widget
from chat_platform.store.sealing import Sealer


@dataclass(frozen=True)
class WidgetLimits:
    """Requests per minute (settings `CHAT_PLATFORM_WIDGET_*`; tests may override them through
    `runtime.extras["widget_limits"]`)."""

    connects_per_ip: int
    messages_per_visitor: int
    messages_per_ip: int

    @classmethod
    def from_settings(cls, settings: Any) -> WidgetLimits:
        return cls(
            connects_per_ip=settings.widget_connects_per_ip,
            messages_per_visitor=settings.widget_messages_per_visitor,
            messages_per_ip=settings.widget_messages_per_ip,
        )


@dataclass(frozen=True)
class ChatWidget:
    """What the chat transport needs to serve one widget's visitors."""

    id: str
    workflow_id: str
    project_id: str
    account_id: str
    allowed_origins: list[str]
    signing_secret: str
    public: dict[str, Any]


def secret_context(widget_id: str) -> str:
    return f"widget:{widget_id}:signing_secret"


def widget_view(w: Widget) -> dict[str, Any]:
    return {
        "id": w.id,
        "workflow_id": w.workflow_id,
        "allowed_origins": w.allowed_origins or [],
        "title": w.title,
        "greeting": w.greeting,
        "starter_prompts": w.starter_prompts or [],
        "theme_color": w.theme_color,
        "show_feedback": w.show_feedback,
        "created_at": iso(w.created_at),
        "updated_at": iso(w.updated_at),
    }


def public_widget_view(w: Widget) -> dict[str, Any]:
    """What a browser may see: the look of the widget, never its origins or secret."""
    return {
        "id": w.id,
        "title": w.title,
        "greeting": w.greeting,
        "starter_prompts": w.starter_prompts or [],
        "theme_color": w.theme_color,
        "show_feedback": w.show_feedback,
    }


async def _published_workflow_id(principal: Principal, workflow_id: str) -> str:
    return (await get_published_workflow(principal, workflow_id)).id


async def _get(principal: Principal, widget_id: str) -> Widget:
    return await get_bound(
        principal, Widget, widget_id, NotFound("Widget does not exist", code="WIDGET_NOT_FOUND")
    )


async def insert_widget(
    sealer: Sealer, *, workflow_id: str, account_id: str, **fields: Any
) -> tuple[Widget, str]:
    """Store a widget with a fresh signing secret (sealed); returns the row and the secret."""
    widget_id = new_id("wgt")
    secret = new_signing_secret()
    row = await Widget.create(
        id=widget_id,
        workflow_id=workflow_id,
        account_id=account_id,
        signing_secret=sealer.seal(secret, context=secret_context(widget_id)),
        **fields,
    )
    return row, secret


async def create_widget(principal: Principal, sealer: Sealer, body: WidgetCreate) -> dict[str, Any]:
    """The new widget's view plus `signing_secret` — the only time it is shown."""
    principal.require(Permission.WORKFLOWS_WRITE)
    workflow_id = await _published_workflow_id(principal, body.workflow_id)
    row, secret = await insert_widget(
        sealer,
        workflow_id=workflow_id,
        account_id=principal.account_id,
        **body.model_dump(exclude_none=True, exclude={"workflow_id"}),
    )
    await audit.record(principal, AuditAction.WIDGET_CREATE, row.id)
    return {**widget_view(row), "signing_secret": secret}


async def list_widgets(
    principal: Principal, *, workflow_id: str | None, limit: int, offset: int
) -> dict[str, Any]:
    query = Widget.filter(account_id=principal.account_id)
    if principal.project_id is not None:
        query = query.filter(workflow__project_id=principal.project_id)
    if workflow_id:
        query = query.filter(workflow_id=workflow_id)
    return await page(query.order_by("-created_at", "id"), widget_view, limit=limit, offset=offset)


def feedback_view(m: Message) -> dict[str, Any]:
    return {
        "message_id": m.id,
        "session_id": m.session_id,
        "run_id": m.run_id,
        "rating": m.feedback,
        "comment": m.feedback_comment,
        "content": m.content,
        "rated_at": iso(m.feedback_at),
    }


async def list_feedback(
    principal: Principal, widget_id: str, *, rating: str | None, limit: int, offset: int
) -> dict[str, Any]:
    """Ratings visitors gave the widget's answers, newest first."""
    widget = await _get(principal, widget_id)
    if rating not in (None, "up", "down"):
        raise BadRequest("rating must be up or down")
    query = Message.filter(
        session__owner_key__startswith=f"visitor:{widget.id}:", feedback__isnull=False
    )
    if rating:
        query = query.filter(feedback=rating)
    ordered = query.order_by("-feedback_at", "id")
    return await page(ordered, feedback_view, limit=limit, offset=offset)


async def get_widget(principal: Principal, widget_id: str) -> dict[str, Any]:
    return widget_view(await _get(principal, widget_id))


async def update_widget(principal: Principal, widget_id: str, body: WidgetUpdate) -> dict[str, Any]:
    principal.require(Permission.WORKFLOWS_WRITE)
    row = await _get(principal, widget_id)
    changes = body.model_dump(exclude_none=True)
    if "workflow_id" in changes:
        changes["workflow_id"] = await _published_workflow_id(principal, changes["workflow_id"])
    if changes:
        row.update_from_dict(changes)
        await row.save()
        await audit.record(principal, AuditAction.WIDGET_UPDATE, widget_id)
    return widget_view(row)


async def rotate_signing_secret(
    principal: Principal, sealer: Sealer, widget_id: str
) -> dict[str, Any]:
    """A new signing secret (shown once); tokens signed with the old one stop working."""
    principal.require(Permission.WORKFLOWS_WRITE)
    row = await _get(principal, widget_id)
    secret = new_signing_secret()
    row.signing_secret = sealer.seal(secret, context=secret_context(widget_id))
    await row.save(update_fields=["signing_secret", "updated_at"])
    await audit.record(principal, AuditAction.WIDGET_ROTATE_SECRET, widget_id)
    return {**widget_view(row), "signing_secret": secret}


async def delete_widget(principal: Principal, widget_id: str) -> None:
    principal.require(Permission.WORKFLOWS_WRITE)
    row = await _get(principal, widget_id)
    await Widget.filter(id=row.id).delete()
    await audit.record(principal, AuditAction.WIDGET_DELETE, widget_id)


# --- the chat side ----------------------------------------------------------------------------


async def load_chat_widget(sealer: Sealer, widget_id: str) -> ChatWidget:
    """The widget a browser names, or NotFound(WIDGET_NOT_FOUND); no principal involved."""
    if not has_prefix(widget_id, "wgt"):
        raise NotFound("Widget does not exist", code="WIDGET_NOT_FOUND")
    row = await Widget.get_or_none(id=widget_id).select_related("workflow")
    if row is None:
        raise NotFound("Widget does not exist", code="WIDGET_NOT_FOUND")
    return ChatWidget(
        id=row.id,
        workflow_id=row.workflow_id,
        project_id=row.workflow.project_id,
        account_id=row.account_id,
        allowed_origins=list(row.allowed_origins or []),
        signing_secret=sealer.open(row.signing_secret, context=secret_context(row.id)),
        public=public_widget_view(row),
    )


async def find_public_widget(widget_id: str) -> dict[str, Any] | None:
    """The public look of a widget (for the hosted page), or None."""
    if not has_prefix(widget_id, "wgt"):
        return None
    row = await Widget.get_or_none(id=widget_id)
    return public_widget_view(row) if row is not None else None


def origin_allowed(allowed: list[str], origin: str | None, own_origins: set[str]) -> bool:
    """Exact origins, `*`, and `https://*.example.com` (subdomains only); our own pages always.

    A missing Origin is refused unless `*` is listed: every browser sends one on a WebSocket
    handshake, so its absence means a non-browser client, which should use an API key.
    """
    if "*" in allowed:
        return True
    if not origin:
        return False
    origin = origin.strip().lower().rstrip("/")
    if origin in own_origins or origin in allowed:
        return True
    scheme, _, host = origin.partition("://")
    for pattern in allowed:
        p_scheme, _, p_host = pattern.partition("://")
        if p_host.startswith("*.") and p_scheme == scheme:
            suffix = p_host[1:]  # ".example.com[:port]"
            if host.endswith(suffix) and len(host) > len(suffix):
                return True
    return False


def widget_principal(widget: ChatWidget) -> Principal:
    """Who a widget visitor acts as: an operator of the widget's project, keyed by the widget.

    The chat transport only ever uses it for the widget's own workflow and the visitor's own
    sessions; it is never a credential anyone can present.
    """
    return Principal(widget.id, widget.account_id, widget.project_id, Role.OPERATOR)


async def open_visitor_session(
    widget: ChatWidget, visitor: Visitor, *, session_id: str | None, new: bool
) -> dict[str, Any]:
    """The visitor's session: the one named (if theirs), else their latest, else a new one."""
    owned = Session.filter(workflow_id=widget.workflow_id, owner_key=visitor.owner_key)
    if session_id is not None:
        session = await owned.filter(id=session_id).first()
        if session is None:
            raise NotFound("Session does not exist", code="SESSION_NOT_FOUND")
        return session_view(session)
    if not new:
        session = await owned.order_by("-updated_at", "-created_at").first()
        if session is not None:
            return session_view(session)
    session = await Session.create(
        id=new_id("sess"),
        workflow_id=widget.workflow_id,
        owner_key=visitor.owner_key,
        title=widget.public["title"] or "New chat",
    )
    return session_view(session)


async def check_rate(limiter: Any, key: str, limit: int, what: str) -> None:
    decision = await limiter.hit(key, limit, 60)
    if not decision.allowed:
        raise RateLimited(f"Too many {what} per minute", retry_after=decision.retry_after)
