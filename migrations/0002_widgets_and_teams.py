from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    initial = False

    operations = [
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
                "table_description": "Activity ids already processed, so a redelivered activity runs once.",
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
                "table_description": "A Bot Framework bot (Teams or any channel) bound to one workflow.",
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
                "table_description": "Where to reply for one conversation (or one user in a group chat) and its session.",
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
    ]
