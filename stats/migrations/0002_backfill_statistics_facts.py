"""Fill the statistics facts of conversations that existed before them.

Message counts and the first staff reply come from the messages still
there (a purged conversation keeps zeros: its messages are gone); each
conversation gets a start passage in its current service, the only one
known for it.
"""

from django.db import migrations
from django.db.models import Count, Min, Q

STAFF = ["operator", "psychologist", "supervisor"]


def backfill(apps, schema_editor):
    Conversation = apps.get_model("chat", "Conversation")
    Message = apps.get_model("chat", "Message")
    ServicePassage = apps.get_model("stats", "ServicePassage")
    rows = Message.objects.values("conversation_id").annotate(
        visitor=Count("id", filter=Q(sender="visitor")),
        staff=Count("id", filter=Q(sender__in=STAFF)),
        first_staff=Min("created_at", filter=Q(sender__in=STAFF)),
    )
    for row in rows.iterator():
        Conversation.objects.filter(id=row["conversation_id"]).update(
            visitor_messages=row["visitor"],
            staff_messages=row["staff"],
            first_staff_reply_at=row["first_staff"],
        )
    known = ServicePassage.objects.values("conversation_id")
    batch = [
        ServicePassage(
            conversation_id=conversation_id,
            service_id=service_id,
            kind="start",
            at=created_at,
            started_at=created_at,
        )
        for conversation_id, service_id, created_at in Conversation.objects.exclude(
            id__in=known
        ).values_list("id", "service_id", "created_at")
    ]
    ServicePassage.objects.bulk_create(batch, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0005_conversation_statistics_facts"),
        ("stats", "0001_service_passage_feedback"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
