"""Re-wrap every conversation data key under the newest key of the ring.

Rotation: put a new ``id:key`` first in ``MESSAGE_KEYS`` (keep the old one
after it), restart, run this command; once it reports nothing left under
an old id, remove that id from the ring.
"""

from django.core.management.base import BaseCommand

from anonymity.crypto import do_rewrap_data_keys, get_key_ring
from anonymity.models import ConversationKey


class Command(BaseCommand):
    help = "Re-wrap data keys under the newest MESSAGE_KEYS entry."

    def handle(self, *args: object, **options: object) -> None:
        active = get_key_ring()[0][0]
        count = do_rewrap_data_keys()
        self.stdout.write(f"Re-wrapped {count} data keys under {active}.")
        others = (
            ConversationKey.objects.exclude(kek_id=active)
            .values_list("kek_id", flat=True)
            .distinct()
        )
        if not others:
            self.stdout.write(
                "Every data key is under the newest key; older ids can go."
            )
