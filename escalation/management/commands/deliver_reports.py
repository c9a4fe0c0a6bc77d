"""Send every report delivery that is due; lapse stale disclosure approvals.

Each server process already does this in the background
(``escalation.runtime``); this command is for cron, for a dedicated
sender, or to flush the outbox by hand.
"""

from django.core.management.base import BaseCommand

from escalation.disclosure import do_expire_lapsed
from escalation.reports import deliver_due


class Command(BaseCommand):
    help = "Deliver pending reports to their units (with retries and backoff)."

    def handle(self, *args: object, **options: object) -> None:
        counts = deliver_due()
        lapsed = do_expire_lapsed()
        self.stdout.write(
            f"Reports sent: {counts['sent']}, failed (will retry): {counts['failed']}; "
            f"disclosure approvals lapsed: {lapsed}."
        )
