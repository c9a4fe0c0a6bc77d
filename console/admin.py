"""Staff accounts in the admin: one action to end all of a user's sessions."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from console.services.staff import do_end_all_sessions


class StaffUserAdmin(UserAdmin):
    actions = ["end_all_sessions"]

    @admin.action(
        description=_("Fermer toutes les sessions (déconnexion immédiate)"),
        permissions=["change"],
    )
    def end_all_sessions(self, request: HttpRequest, queryset: QuerySet) -> None:
        ended = sum(do_end_all_sessions(user) for user in queryset)
        self.message_user(
            request,
            ngettext("%(count)d session fermée.", "%(count)d sessions fermées.", ended)
            % {"count": ended},
            messages.SUCCESS,
        )


admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
