"""Drop the message table's index on conversation alone.

``message_seq_unique`` (conversation, seq) starts with the same column and
serves every lookup by conversation; the second index only cost every
message an index insert (docs/decisions.md). Only the index goes: Django's
own ``AlterField`` would also drop and re-add the foreign key, which
checks every row of the table again on PostgreSQL.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "chat_message_conversation_id_a1207bf4"


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0006_conversation_token_rotation_abuse"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to="chat.conversation",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {INDEX}",
                    reverse_sql=f"CREATE INDEX {INDEX} ON chat_message (conversation_id)",
                ),
            ],
        ),
    ]
