from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0002_message_feedback")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Message",
            index=Index(fields=["session_id", "created_at", "id"], name="idx_messages_timeline"),
        ),
    ]
