"""Audit entries for staff logins and account and role changes.

Connected in ``EscalationConfig.ready``: whichever screen or command
changes an account (the admin, ``create_staff``, the shell), the trail
records it.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.core.exceptions import ValidationError
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from chat.models import ConsentText
from console.models import StaffProfile
from escalation.audit import record_event

ACCOUNT_FIELDS = ("username", "is_active", "is_staff", "is_superuser")


def _on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record_event("staff_login", actor=user, subject=f"user:{user.pk}")


def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record_event("staff_logout", actor=user, subject=f"user:{user.pk}")


def _remember_account(sender: Any, instance: Any, **kwargs: Any) -> None:
    instance._audit_before = None
    if instance.pk:
        instance._audit_before = (
            sender.objects.filter(pk=instance.pk).values(*ACCOUNT_FIELDS).first()
        )


def _on_account_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    after = {name: getattr(instance, name) for name in ACCOUNT_FIELDS}
    if created:
        record_event("account_created", subject=f"user:{instance.pk}", data=after)
        return
    before = getattr(instance, "_audit_before", None) or {}
    changes = {
        name: [before.get(name), value]
        for name, value in after.items()
        if before.get(name) != value
    }
    if changes:
        record_event("account_changed", subject=f"user:{instance.pk}", data=changes)


def _on_account_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    record_event(
        "account_deleted",
        subject=f"user:{instance.pk}",
        data={"username": instance.get_username()},
    )


def _remember_roles(sender: Any, instance: StaffProfile, **kwargs: Any) -> None:
    instance._audit_roles = None
    if instance.pk:
        instance._audit_roles = (
            StaffProfile.objects.filter(pk=instance.pk)
            .values_list("roles", flat=True)
            .first()
        )


def _on_profile_saved(
    sender: Any, instance: StaffProfile, created: bool, **kwargs: Any
) -> None:
    before = getattr(instance, "_audit_roles", None)
    if created or sorted(before or []) != sorted(instance.roles or []):
        record_event(
            "roles_changed",
            subject=f"user:{instance.user_id}",
            data={"before": before or [], "after": list(instance.roles or [])},
        )


def _on_services_changed(
    sender: Any, instance: Any, action: str, pk_set: Any, **kwargs: Any
) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not isinstance(instance, StaffProfile):
        return
    record_event(
        "services_changed",
        subject=f"user:{instance.user_id}",
        data={"action": action.removeprefix("post_"), "services": sorted(pk_set or [])},
    )


def _refuse_editing_used_text(
    sender: Any, instance: ConsentText, **kwargs: Any
) -> None:
    """Whatever the path (admin, shell), a shown text keeps its words."""
    if not instance.pk:
        return
    from escalation.models import ConsentRequest

    before = (
        ConsentText.objects.filter(pk=instance.pk)
        .values("text", "version", "lang", "service_id")
        .first()
    )
    if (
        before is None
        or not ConsentRequest.objects.filter(consent_text=instance).exists()
    ):
        return
    after = {
        "text": instance.text,
        "version": instance.version,
        "lang": instance.lang,
        "service_id": instance.service_id,
    }
    if before != after:
        raise ValidationError("a consent text already shown cannot be edited")


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(
        _refuse_editing_used_text, sender=ConsentText, dispatch_uid="consent_text"
    )
    user_logged_in.connect(_on_login, dispatch_uid="audit_login")
    user_logged_out.connect(_on_logout, dispatch_uid="audit_logout")
    pre_save.connect(_remember_account, sender=user_model, dispatch_uid="audit_u0")
    post_save.connect(_on_account_saved, sender=user_model, dispatch_uid="audit_u1")
    post_delete.connect(_on_account_deleted, sender=user_model, dispatch_uid="audit_u2")
    pre_save.connect(_remember_roles, sender=StaffProfile, dispatch_uid="audit_p0")
    post_save.connect(_on_profile_saved, sender=StaffProfile, dispatch_uid="audit_p1")
    m2m_changed.connect(
        _on_services_changed,
        sender=StaffProfile.services.through,
        dispatch_uid="audit_p2",
    )
