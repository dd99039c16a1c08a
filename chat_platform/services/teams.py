"""Teams integrations as use cases: create / list / get / update / delete the binding of a
published workflow to a Bot Framework bot (the app password sealed at rest and never returned),
and the bookkeeping the webhook needs per activity: loading a bot's configuration, recording an
activity id once (redeliveries are dropped), mapping a conversation (or a user in a group chat)
to its session, and remembering approval cards per run.
May import: store, errors, ids, services (access, auth, runtime, views).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from tortoise.exceptions import IntegrityError

from chat_platform.errors import NotFound
from chat_platform.ids import iso, new_id, utcnow
from chat_platform.services import audit
from chat_platform.services.access import get_bound, get_published_workflow
from chat_platform.services.audit import AuditAction
from chat_platform.services.auth import Principal
from chat_platform.store.models import (
    Session,
    TeamsActivity,
    TeamsConversation,
    TeamsIntegration,
)
from chat_platform.store.sealing import Sealer

DEFAULT_OPENID_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"


def default_token_endpoint(tenant_id: str | None) -> str:
    """Single-tenant bots get tokens from their own tenant; multi-tenant from botframework.com."""
    return f"https://login.microsoftonline.com/{tenant_id or 'botframework.com'}/oauth2/v2.0/token"


def _check_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value


class TeamsIntegrationUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    workflow_id: str | None = Field(default=None, max_length=64)
    app_id: str | None = Field(default=None, min_length=1, max_length=128)
    app_password: str | None = Field(default=None, min_length=1, max_length=1024)
    tenant_id: str | None = Field(default=None, max_length=128)
    allowed_tenants: list[str] | None = Field(default=None, max_length=500)
    openid_metadata_url: str | None = Field(default=None, max_length=500)
    token_endpoint: str | None = Field(default=None, max_length=500)
    per_user_sessions: bool | None = None

    _urls = field_validator("openid_metadata_url", "token_endpoint")(_check_url)


class TeamsIntegrationCreate(TeamsIntegrationUpdate):
    workflow_id: str = Field(max_length=64)
    app_id: str = Field(min_length=1, max_length=128)
    app_password: str = Field(min_length=1, max_length=1024)


def password_context(integration_id: str) -> str:
    return f"teams:{integration_id}:app_password"


def messaging_endpoint(base_url: str, integration_id: str) -> str:
    return f"{base_url.rstrip('/')}/api/v1/integrations/teams/{integration_id}/messages"


def teams_view(t: TeamsIntegration, base_url: str) -> dict[str, Any]:
    return {
        "id": t.id,
        "workflow_id": t.workflow_id,
        "app_id": t.app_id,
        "tenant_id": t.tenant_id,
        "allowed_tenants": t.allowed_tenants or [],
        "openid_metadata_url": t.openid_metadata_url,
        "token_endpoint": t.token_endpoint,
        "per_user_sessions": t.per_user_sessions,
        "messaging_endpoint": messaging_endpoint(base_url, t.id),
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
    }


async def _published_workflow_id(principal: Principal, workflow_id: str) -> str:
    return (await get_published_workflow(principal, workflow_id)).id


async def _get(principal: Principal, integration_id: str) -> TeamsIntegration:
    return await get_bound(
        principal, TeamsIntegration, integration_id, NotFound("Teams integration does not exist")
    )


async def create_teams_integration(
    principal: Principal, body: TeamsIntegrationCreate, sealer: Sealer, base_url: str
) -> dict[str, Any]:
    workflow_id = await _published_workflow_id(principal, body.workflow_id)
    integration_id = new_id("tms")
    row = await TeamsIntegration.create(
        id=integration_id,
        workflow_id=workflow_id,
        account_id=principal.account_id,
        app_id=body.app_id,
        app_password=sealer.seal(body.app_password, context=password_context(integration_id)),
        tenant_id=body.tenant_id or None,
        allowed_tenants=body.allowed_tenants or [],
        openid_metadata_url=body.openid_metadata_url or DEFAULT_OPENID_METADATA_URL,
        token_endpoint=body.token_endpoint or default_token_endpoint(body.tenant_id),
        per_user_sessions=bool(body.per_user_sessions),
    )
    await audit.record(principal, AuditAction.TEAMS_INTEGRATION_CREATE, row.id)
    return teams_view(row, base_url)


async def list_teams_integrations(
    principal: Principal, base_url: str, *, workflow_id: str | None, limit: int, offset: int
) -> dict[str, Any]:
    query = TeamsIntegration.filter(account_id=principal.account_id)
    if principal.project_id is not None:
        query = query.filter(workflow__project_id=principal.project_id)
    if workflow_id:
        query = query.filter(workflow_id=workflow_id)
    total = await query.count()
    rows = await query.order_by("-created_at", "id").offset(offset).limit(limit)
    return {
        "data": [teams_view(r, base_url) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


async def get_teams_integration(
    principal: Principal, integration_id: str, base_url: str
) -> dict[str, Any]:
    return teams_view(await _get(principal, integration_id), base_url)


async def update_teams_integration(
    principal: Principal,
    integration_id: str,
    body: TeamsIntegrationUpdate,
    sealer: Sealer,
    base_url: str,
) -> dict[str, Any]:
    row = await _get(principal, integration_id)
    given = body.model_fields_set
    if body.workflow_id is not None:
        row.workflow_id = await _published_workflow_id(principal, body.workflow_id)
    if body.app_id is not None:
        row.app_id = body.app_id
    if body.app_password is not None:
        row.app_password = sealer.seal(body.app_password, context=password_context(row.id))
    if "tenant_id" in given:
        row.tenant_id = body.tenant_id or None
    if "allowed_tenants" in given:
        row.allowed_tenants = body.allowed_tenants or []
    if "openid_metadata_url" in given:
        row.openid_metadata_url = body.openid_metadata_url or DEFAULT_OPENID_METADATA_URL
    if "token_endpoint" in given:
        row.token_endpoint = body.token_endpoint or default_token_endpoint(row.tenant_id)
    if body.per_user_sessions is not None:
        row.per_user_sessions = body.per_user_sessions
    await row.save()
    await audit.record(principal, AuditAction.TEAMS_INTEGRATION_UPDATE, row.id)
    return teams_view(row, base_url)


async def delete_teams_integration(principal: Principal, integration_id: str) -> None:
    row = await _get(principal, integration_id)
    await row.delete()
    await TeamsActivity.filter(integration_id=row.id).delete()
    await audit.record(principal, AuditAction.TEAMS_INTEGRATION_DELETE, row.id)


# --- what the messaging endpoint needs ------------------------------------------------------


@dataclass(frozen=True)
class BotConfig:
    id: str
    workflow_id: str
    account_id: str
    app_id: str
    app_password: str = field(repr=False)
    tenant_id: str | None
    allowed_tenants: list[str]
    openid_metadata_url: str
    token_endpoint: str
    per_user_sessions: bool


async def load_bot(integration_id: str, sealer: Sealer) -> BotConfig | None:
    row = await TeamsIntegration.get_or_none(id=integration_id)
    if row is None:
        return None
    return BotConfig(
        id=row.id,
        workflow_id=row.workflow_id,
        account_id=row.account_id,
        app_id=row.app_id,
        app_password=sealer.open(row.app_password, context=password_context(row.id)),
        tenant_id=row.tenant_id,
        allowed_tenants=list(row.allowed_tenants or []),
        openid_metadata_url=row.openid_metadata_url,
        token_endpoint=row.token_endpoint,
        per_user_sessions=row.per_user_sessions,
    )


_recorded = 0
DEDUPE_WINDOW = timedelta(days=2)


async def record_activity(integration_id: str, activity_id: str) -> bool:
    """True the first time an activity id is seen for this bot, False on a redelivery.
    Ids older than the dedupe window are pruned now and then."""
    global _recorded
    try:
        await TeamsActivity.create(integration_id=integration_id, activity_id=activity_id[:255])
    except IntegrityError:
        return False
    _recorded += 1
    if _recorded % 500 == 0:
        await TeamsActivity.filter(created_at__lt=utcnow() - DEDUPE_WINDOW).delete()
    return True


@dataclass(frozen=True)
class ConversationRef:
    id: str
    key: str
    conversation_id: str
    service_url: str
    session_id: str
    data: dict[str, Any]


def _ref(row: TeamsConversation) -> ConversationRef:
    return ConversationRef(
        row.id,
        row.conversation_key,
        row.conversation_id,
        row.service_url,
        row.session_id,
        dict(row.data or {}),
    )


async def map_conversation(
    bot: BotConfig, *, key: str, conversation_id: str, service_url: str, title: str
) -> ConversationRef:
    """The conversation's record and session, created on first contact; serviceUrl refreshed."""
    row = await TeamsConversation.get_or_none(conversation_key=key)
    if row is None:
        session = await Session.create(
            id=new_id("sess"), workflow_id=bot.workflow_id, title=title[:200], owner_key=None
        )
        try:
            row = await TeamsConversation.create(
                id=new_id("tmc"),
                integration_id=bot.id,
                conversation_key=key,
                conversation_id=conversation_id,
                service_url=service_url,
                session_id=session.id,
            )
        except IntegrityError:  # created concurrently by another process
            await session.delete()
            row = await TeamsConversation.get(conversation_key=key)
    elif row.service_url != service_url:
        row.service_url = service_url
        await row.save(update_fields=["service_url", "updated_at"])
    return _ref(row)


async def find_approval(
    bot: BotConfig, conversation_id: str, run_id: str
) -> ConversationRef | None:
    """The conversation (of this bot, this Teams conversation) that posted the run's card."""
    rows = await TeamsConversation.filter(integration_id=bot.id, conversation_id=conversation_id)
    for row in rows:
        if run_id in (row.data or {}).get("approvals", {}):
            return _ref(row)
    return None


async def remember_approval(ref: ConversationRef, run_id: str, card: dict[str, Any]) -> None:
    def change(data: dict[str, Any]) -> None:
        approvals = dict(data.get("approvals", {}))
        approvals[run_id] = card
        data["approvals"] = dict(list(approvals.items())[-50:])  # the last 50 cards

    await _update_data(ref, change)


async def _update_data(ref: ConversationRef, change: Any) -> None:
    row = await TeamsConversation.get(id=ref.id)
    data = dict(row.data or {})
    change(data)
    row.data = data
    await row.save(update_fields=["data", "updated_at"])


async def mark_decided(ref: ConversationRef, run_id: str, by: str, decision: str) -> None:
    def change(data: dict[str, Any]) -> None:
        approvals = dict(data.get("approvals", {}))
        approvals[run_id] = {**approvals.get(run_id, {}), "decided_by": by, "decision": decision}
        data["approvals"] = approvals

    await _update_data(ref, change)


async def record_delivery_failure(ref: ConversationRef, what: str, error: str) -> None:
    """Keep the last few delivery failures on the conversation, for operators."""

    def change(data: dict[str, Any]) -> None:
        failures = list(data.get("delivery_failures", []))
        failures.append({"what": what, "error": error[:300], "at": iso(utcnow())})
        data["delivery_failures"] = failures[-10:]

    await _update_data(ref, change)


async def workflow_greeting(workflow_id: str) -> str:
    from chat_platform.store.models import Workflow, WorkflowVersion

    workflow = await Workflow.get(id=workflow_id)
    version = await WorkflowVersion.get_or_none(workflow_id=workflow_id, version=workflow.version)
    settings = (version.settings if version else None) or workflow.settings or {}
    greeting = settings.get("greeting") if isinstance(settings, dict) else None
    if isinstance(greeting, str) and greeting.strip():
        return greeting
    return f"Hi! I'm {workflow.name}. Ask me anything."
