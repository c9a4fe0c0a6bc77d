"""Revocation within a second: account changes reach every open console.

A deactivation, a password change, a role or service change, or "end all
sessions" sends ``console.session_check`` to the user's group once the
change commits; every console socket of that user, in every process,
joins that group and re-checks at once (issue 11). Logins only touch
``last_login`` and send nothing.
"""

from typing import Any

from django.contrib.auth.models import User
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver

from chat import events
from console.models import StaffProfile


@receiver(post_save, sender=User, dispatch_uid="console-revoke-user")
def user_changed(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if created or (update_fields is not None and set(update_fields) == {"last_login"}):
        return
    events.notify_session_check(instance.pk)


@receiver(post_save, sender=StaffProfile, dispatch_uid="console-revoke-profile")
def profile_changed(
    sender: Any, instance: StaffProfile, created: bool, **kwargs: Any
) -> None:
    update_fields = kwargs.get("update_fields")
    if created or (update_fields is not None and set(update_fields) == {"auto_assign"}):
        return
    events.notify_session_check(instance.user_id)


@receiver(
    m2m_changed, sender=StaffProfile.services.through, dispatch_uid="console-revoke-svc"
)
def services_changed(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if isinstance(instance, StaffProfile):
        events.notify_session_check(instance.user_id)
        return
    # Changed from the service's side: every profile named in pk_set.
    for user_id in StaffProfile.objects.filter(
        pk__in=kwargs.get("pk_set") or ()
    ).values_list("user_id", flat=True):
        events.notify_session_check(user_id)
