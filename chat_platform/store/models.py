"""Tortoise ORM models: the whole data model of DESIGN §3 in one place.

Queried fields are real columns (SQLite cannot filter JSON); JSON columns hold only what is
read whole (graphs, traces, engine state). Schema changes go through `migrations/` only.
May import: tortoise and the standard library. Nothing above `store/` sees these classes:
services receive plain dicts/dataclasses from the query modules.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Account(Model):
    id = fields.CharField(pk=True, max_length=40)
    name = fields.CharField(max_length=200, default="Default account")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "accounts"


class Project(Model):
    id = fields.CharField(pk=True, max_length=40)
    account = fields.ForeignKeyField(
        "models.Account", related_name="projects", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "projects"


class Workflow(Model):
    id = fields.CharField(pk=True, max_length=40)
    project = fields.ForeignKeyField(
        "models.Project", related_name="workflows", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    # draft (never published) | live | paused
    status = fields.CharField(max_length=16, default="draft", db_index=True)
    version = fields.IntField(default=0)  # latest published version, 0 = none
    nodes = fields.JSONField(default=list)
    edges = fields.JSONField(default=list)
    settings = fields.JSONField(default=dict)
    crew = fields.JSONField(null=True)
    model = fields.CharField(max_length=80, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True, db_index=True)

    class Meta:
        table = "workflows"


class WorkflowVersion(Model):
    id = fields.CharField(pk=True, max_length=40)
    workflow = fields.ForeignKeyField(
        "models.Workflow", related_name="versions", on_delete=fields.CASCADE
    )
    version = fields.IntField()
    nodes = fields.JSONField(default=list)
    edges = fields.JSONField(default=list)
    settings = fields.JSONField(default=dict)
    published_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "workflow_versions"
        unique_together = (("workflow", "version"),)


class Session(Model):
    id = fields.CharField(pk=True, max_length=40)
    workflow = fields.ForeignKeyField(
        "models.Workflow", related_name="sessions", on_delete=fields.CASCADE
    )
    title = fields.CharField(max_length=200, default="New chat")
    # Who may reopen it from a browser (widget visitor) or a channel (Teams conversation key).
    owner_key = fields.CharField(max_length=255, null=True, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True, db_index=True)

    class Meta:
        table = "sessions"


class Message(Model):
    id = fields.CharField(pk=True, max_length=40)
    session = fields.ForeignKeyField(
        "models.Session", related_name="messages", on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=16)
    content = fields.TextField()
    type = fields.CharField(max_length=16, default="text")
    run_id = fields.CharField(max_length=40, null=True, db_index=True)
    client_message_id = fields.CharField(max_length=128, null=True)
    # complete | partial (an interrupted answer, kept and marked, never a blank row)
    status = fields.CharField(max_length=16, default="complete")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    # A chat user's rating of an answer (widget feedback buttons): up | down | null
    feedback = fields.CharField(max_length=8, null=True)
    feedback_comment = fields.TextField(null=True)
    feedback_at = fields.DatetimeField(null=True)

    class Meta:
        table = "messages"
        unique_together = (("session", "client_message_id"),)
        # A session's messages in order: the newest N of a turn's history come straight off
        # the index (without it, every turn sorted all of its session's messages).
        indexes = (Index(fields=("session_id", "created_at", "id"), name="idx_messages_timeline"),)


class Run(Model):
    id = fields.CharField(pk=True, max_length=40)
    workflow = fields.ForeignKeyField(
        "models.Workflow", related_name="runs", on_delete=fields.CASCADE
    )
    session = fields.ForeignKeyField(
        "models.Session", related_name="runs", null=True, on_delete=fields.SET_NULL
    )
    account_id = fields.CharField(max_length=40, db_index=True)
    # running | completed | failed | pending_approval | cancelled
    status = fields.CharField(max_length=24, db_index=True)
    workflow_version = fields.IntField()
    input = fields.JSONField(default=list)
    variables = fields.JSONField(default=dict)
    output = fields.JSONField(null=True)
    error = fields.TextField(null=True)
    error_code = fields.CharField(max_length=40, null=True)
    metadata = fields.JSONField(default=dict)
    node_trace = fields.JSONField(default=list)
    state = fields.JSONField(null=True)  # engine state while paused at an approval
    approval_prompt = fields.TextField(null=True)
    paused_at_node_id = fields.CharField(max_length=128, null=True)
    approval_decision = fields.CharField(max_length=16, null=True)
    approval_comment = fields.TextField(null=True)
    idempotency_key = fields.CharField(max_length=255, null=True)
    api_key_id = fields.CharField(max_length=40, null=True)
    started_at = fields.DatetimeField(auto_now_add=True)
    completed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "runs"
        unique_together = (("api_key_id", "idempotency_key"),)


class ApiKey(Model):
    id = fields.CharField(pk=True, max_length=40)
    account = fields.ForeignKeyField(
        "models.Account", related_name="api_keys", on_delete=fields.CASCADE
    )
    project = fields.ForeignKeyField(
        "models.Project", related_name="api_keys", null=True, on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200, default="")
    role = fields.CharField(max_length=16)
    prefix = fields.CharField(max_length=16)
    key_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_keys"


class Secret(Model):
    id = fields.CharField(pk=True, max_length=40)
    # Exactly one of project / workflow is set.
    project = fields.ForeignKeyField(
        "models.Project", related_name="secrets", null=True, on_delete=fields.CASCADE
    )
    workflow = fields.ForeignKeyField(
        "models.Workflow", related_name="secrets", null=True, on_delete=fields.CASCADE
    )
    # "project:<id>" or "workflow:<id>": one real column so a name is unique per scope.
    scope = fields.CharField(max_length=64)
    name = fields.CharField(max_length=128)
    ciphertext = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "secrets"
        unique_together = (("scope", "name"),)


class AuditLog(Model):
    id = fields.CharField(pk=True, max_length=40)
    account_id = fields.CharField(max_length=40, db_index=True)
    actor_key_id = fields.CharField(max_length=40, null=True)
    action = fields.CharField(max_length=64)
    resource_type = fields.CharField(max_length=32)
    resource_id = fields.CharField(max_length=64)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_logs"


class Widget(Model):
    """A public chat widget bound to one workflow (DESIGN §6)."""

    id = fields.CharField(pk=True, max_length=40)
    workflow = fields.ForeignKeyField(
        "models.Workflow", related_name="widgets", on_delete=fields.CASCADE
    )
    account_id = fields.CharField(max_length=40, db_index=True)
    allowed_origins = fields.JSONField(default=list)
    title = fields.CharField(max_length=200, default="Chat")
    greeting = fields.TextField(default="")
    starter_prompts = fields.JSONField(default=list)
    theme_color = fields.CharField(max_length=32, default="#2563eb")
    show_feedback = fields.BooleanField(default=False)
    # HMAC key for visitor tokens, sealed like a secret; shown once at creation.
    signing_secret = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "widgets"


class TeamsIntegration(Model):
    """A Bot Framework bot (Teams or any channel) bound to one workflow."""

    id = fields.CharField(pk=True, max_length=40)
    workflow = fields.ForeignKeyField(
        "models.Workflow", related_name="teams_integrations", on_delete=fields.CASCADE
    )
    account_id = fields.CharField(max_length=40, db_index=True)
    app_id = fields.CharField(max_length=128)
    app_password = fields.TextField()  # sealed; never returned
    tenant_id = fields.CharField(max_length=128, null=True)
    allowed_tenants = fields.JSONField(default=list)
    openid_metadata_url = fields.CharField(max_length=500)
    token_endpoint = fields.CharField(max_length=500)
    per_user_sessions = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "teams_integrations"


class TeamsConversation(Model):
    """Where to reply for one conversation (or one user in a group chat) and its session."""

    id = fields.CharField(pk=True, max_length=40)
    integration = fields.ForeignKeyField(
        "models.TeamsIntegration", related_name="conversations", on_delete=fields.CASCADE
    )
    conversation_key = fields.CharField(max_length=500, unique=True)
    conversation_id = fields.CharField(max_length=500)
    service_url = fields.CharField(max_length=500)
    session_id = fields.CharField(max_length=40)
    data = fields.JSONField(default=dict)  # e.g. approval card activity ids by run id
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "teams_conversations"


class TeamsActivity(Model):
    """Activity ids already processed, so a redelivered activity runs once."""

    id = fields.IntField(pk=True)
    integration_id = fields.CharField(max_length=40)
    activity_id = fields.CharField(max_length=255)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "teams_activities"
        unique_together = (("integration_id", "activity_id"),)
