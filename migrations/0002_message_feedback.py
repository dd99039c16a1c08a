from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Message",
            name="feedback",
            field=fields.CharField(null=True, max_length=8),
        ),
        ops.AddField(
            model_name="Message",
            name="feedback_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="Message",
            name="feedback_comment",
            field=fields.TextField(null=True, unique=False),
        ),
    ]
