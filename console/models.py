"""Staff profiles: pseudonym, roles and the services each person serves."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class StaffProfile(models.Model):
    """What the platform knows of a staff member beyond their login."""

    class Role(models.TextChoices):
        OPERATOR = "operator", _("opérateur·rice")
        PSYCHOLOGIST = "psychologist", _("psychologue")
        SUPERVISOR = "supervisor", _("superviseur·e")
        ADMINISTRATOR = "administrator", _("administrateur·rice")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff"
    )
    # The only name a visitor ever sees.
    pseudonym = models.CharField(max_length=80)
    roles = models.JSONField(default=list)
    services = models.ManyToManyField("chat.Service", related_name="staff")
    max_conversations = models.PositiveSmallIntegerField(default=3)

    def __str__(self) -> str:
        return self.pseudonym

    def has_role(self, role: str) -> bool:
        return role in self.roles
