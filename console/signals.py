"""Revocation within a second: account changes reach every open console.

A deactivation, a password change, a role or service change, or "end all
sessions" sends ``console.session_check`` to the user's group once the
change commits; every console socket of that user, in every process,
joins that group and re-checks at once (issue 11). The same changes, and
the removal of a second-factor device, bump the user's access stamp in
their own transaction, which every staff write reads (issue 14). Logins
only touch ``last_login`` and the device's counters, and send nothing.
"""

from typing import Any

from django_otp.models import Device

from django.contrib.auth.models import User
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from console.auth import bump_access, revoke_access
from console.models import StaffProfile


@receiver(post_save, sender=User, dispatch_uid="console-revoke-user")
def user_changed(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if created or (update_fields is not None and set(update_fields) == {"last_login"}):
        return
    revoke_access(instance.pk)


@receiver(post_save, sender=StaffProfile, dispatch_uid="console-revoke-profile")
def profile_changed(
    sender: Any, instance: StaffProfile, created: bool, **kwargs: Any
) -> None:
    if created:
        return
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and set(update_fields) == {"auto_assign"}:
        # Nothing to re-check, but sockets holding the profile must re-read it.
        bump_access(instance.user_id)
        return
    revoke_access(instance.user_id)


@receiver(
    m2m_changed, sender=StaffProfile.services.through, dispatch_uid="console-revoke-svc"
)
def services_changed(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if isinstance(instance, StaffProfile):
        revoke_access(instance.user_id)
        return
    # Changed from the service's side: every profile named in pk_set.
    for user_id in StaffProfile.objects.filter(
        pk__in=kwargs.get("pk_set") or ()
    ).values_list("user_id", flat=True):
        revoke_access(user_id)


@receiver(post_save, dispatch_uid="console-revoke-device-saved")
def device_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A second-factor device no longer confirmed (any django-otp kind).

    Devices are saved at every verification (throttling, last step): a
    confirmed one saved again changes nothing and sends nothing.
    """
    if isinstance(instance, Device) and not instance.confirmed:
        revoke_access(instance.user_id)


@receiver(post_delete, dispatch_uid="console-revoke-device-deleted")
def device_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A second-factor device removed: sessions that passed it lapse."""
    if isinstance(instance, Device):
        revoke_access(instance.user_id)
