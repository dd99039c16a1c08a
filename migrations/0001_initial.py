import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Account",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                ("name", fields.CharField(default="Default account", max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "accounts", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AuditLog",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                ("account_id", fields.CharField(db_index=True, max_length=40)),
                ("actor_key_id", fields.CharField(null=True, max_length=40)),
                ("action", fields.CharField(max_length=64)),
                ("resource_type", fields.CharField(max_length=32)),
                ("resource_id", fields.CharField(max_length=64)),
                ("at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={"table": "audit_logs", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Project",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="projects",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("enabled", fields.BooleanField(default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={"table": "projects", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ApiKey",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="api_keys",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "project",
                    fields.ForeignKeyField(
                        "models.Project",
                        source_field="project_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="api_keys",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(default="", max_length=200)),
                ("role", fields.CharField(max_length=16)),
                ("prefix", fields.CharField(max_length=16)),
                ("key_hash", fields.CharField(unique=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "last_used_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={"table": "api_keys", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TeamsActivity",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("integration_id", fields.CharField(max_length=40)),
                ("activity_id", fields.CharField(max_length=255)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "teams_activities",
                "app": "models",
                "unique_together": (("integration_id", "activity_id"),),
                "pk_attr": "id",
                "table_description": (
                    "Activity ids already processed, so "
                    "a redelivered activity runs once."
                ),
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Workflow",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                (
                    "project",
                    fields.ForeignKeyField(
                        "models.Project",
                        source_field="project_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="workflows",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("description", fields.TextField(default="", unique=False)),
                ("status", fields.CharField(default="draft", db_index=True, max_length=16)),
                ("version", fields.IntField(default=0)),
                (
                    "nodes",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "edges",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "settings",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "crew",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("model", fields.CharField(null=True, max_length=80)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "updated_at",
                    fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False),
                ),
            ],
            options={"table": "workflows", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Secret",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                (
                    "project",
                    fields.ForeignKeyField(
                        "models.Project",
                        source_field="project_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="secrets",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "workflow",
                    fields.ForeignKeyField(
                        "models.Workflow",
                        source_field="workflow_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="secrets",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("scope", fields.CharField(max_length=64)),
                ("name", fields.CharField(max_length=128)),
                ("ciphertext", fields.TextField(unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "secrets",
                "app": "models",
                "unique_together": (("scope", "name"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Session",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                (
                    "workflow",
                    fields.ForeignKeyField(
                        "models.Workflow",
                        source_field="workflow_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="sessions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("title", fields.CharField(default="New chat", max_length=200)),
                ("owner_key", fields.CharField(null=True, db_index=True, max_length=255)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "updated_at",
                    fields.DatetimeField(db_index=True, auto_now=True, auto_now_add=False),
                ),
            ],
            options={"table": "sessions", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Message",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                (
                    "session",
                    fields.ForeignKeyField(
                        "models.Session",
                        source_field="session_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="messages",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("role", fields.CharField(max_length=16)),
                ("content", fields.TextField(unique=False)),
                ("type", fields.CharField(default="text", max_length=16)),
                ("run_id", fields.CharField(null=True, db_index=True, max_length=40)),
                ("client_message_id", fields.CharField(null=True, max_length=128)),
                ("status", fields.CharField(default="complete", max_length=16)),
                (
                    "created_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
            ],
            options={
                "table": "messages",
                "app": "models",
                "unique_together": (("session", "client_message_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Run",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                (
                    "workflow",
                    fields.ForeignKeyField(
                        "models.Workflow",
                        source_field="workflow_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="runs",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "session",
                    fields.ForeignKeyField(
                        "models.Session",
                        source_field="session_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="runs",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("account_id", fields.CharField(db_index=True, max_length=40)),
                ("status", fields.CharField(db_index=True, max_length=24)),
                ("workflow_version", fields.IntField()),
                (
                    "input",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "variables",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "output",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("error", fields.TextField(null=True, unique=False)),
                ("error_code", fields.CharField(null=True, max_length=40)),
                (
                    "metadata",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "node_trace",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "state",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("approval_prompt", fields.TextField(null=True, unique=False)),
                ("paused_at_node_id", fields.CharField(null=True, max_length=128)),
                ("approval_decision", fields.CharField(null=True, max_length=16)),
                ("approval_comment", fields.TextField(null=True, unique=False)),
                ("idempotency_key", fields.CharField(null=True, max_length=255)),
                ("api_key_id", fields.CharField(null=True, max_length=40)),
                ("started_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "completed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "created_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "runs",
                "app": "models",
                "unique_together": (("api_key_id", "idempotency_key"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TeamsIntegration",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                (
                    "workflow",
                    fields.ForeignKeyField(
                        "models.Workflow",
                        source_field="workflow_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="teams_integrations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("account_id", fields.CharField(db_index=True, max_length=40)),
                ("app_id", fields.CharField(max_length=128)),
                ("app_password", fields.TextField(unique=False)),
                ("tenant_id", fields.CharField(null=True, max_length=128)),
                (
                    "allowed_tenants",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("openid_metadata_url", fields.CharField(max_length=500)),
                ("token_endpoint", fields.CharField(max_length=500)),
                ("per_user_sessions", fields.BooleanField(default=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "teams_integrations",
                "app": "models",
                "pk_attr": "id",
                "table_description": (
                    "A Bot Framework bot (Teams or "
                    "any channel) bound to one workflow."
                ),
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="TeamsConversation",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                (
                    "integration",
                    fields.ForeignKeyField(
                        "models.TeamsIntegration",
                        source_field="integration_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="conversations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("conversation_key", fields.CharField(unique=True, max_length=500)),
                ("conversation_id", fields.CharField(max_length=500)),
                ("service_url", fields.CharField(max_length=500)),
                ("session_id", fields.CharField(max_length=40)),
                (
                    "data",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "teams_conversations",
                "app": "models",
                "pk_attr": "id",
                "table_description": (
                    "Where to reply for one conversation (or one "
                    "user in a group chat) and its session."
                ),
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Widget",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                (
                    "workflow",
                    fields.ForeignKeyField(
                        "models.Workflow",
                        source_field="workflow_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="widgets",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("account_id", fields.CharField(db_index=True, max_length=40)),
                (
                    "allowed_origins",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("title", fields.CharField(default="Chat", max_length=200)),
                ("greeting", fields.TextField(default="", unique=False)),
                (
                    "starter_prompts",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("theme_color", fields.CharField(default="#2563eb", max_length=32)),
                ("show_feedback", fields.BooleanField(default=False)),
                ("signing_secret", fields.TextField(unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "widgets",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A public chat widget bound to one workflow (DESIGN §6).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="WorkflowVersion",
            fields=[
                (
                    "id",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40),
                ),
                (
                    "workflow",
                    fields.ForeignKeyField(
                        "models.Workflow",
                        source_field="workflow_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="versions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("version", fields.IntField()),
                (
                    "nodes",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "edges",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "settings",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("published_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "workflow_versions",
                "app": "models",
                "unique_together": (("workflow", "version"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
