"""Administration of the directory: verify entries, CSV import and export.

Seeded entries are unverified until an administrator checks them (phone,
address, hours) and marks them verified; the date is shown to operators.
Callback requests are listed without their sealed details, which the
platform cannot read.
"""

import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext_lazy as _

from directory.csvio import (
    EXPORT_COLUMNS,
    do_import_resources,
    export_resources_text,
)
from directory.models import CallbackRequest, Orientation, Resource
from directory.selectors import count_orientations
from directory.services import do_verify_resource


class VerifiedFilter(admin.SimpleListFilter):
    title = _("vérifiée")
    parameter_name = "verifiee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list:
        return [("oui", _("oui")), ("non", _("non, à vérifier"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "oui":
            return queryset.filter(verified_at__isnull=False)
        if self.value() == "non":
            return queryset.filter(verified_at__isnull=True)
        return queryset


class ResourceForm(forms.ModelForm):
    website = forms.URLField(
        required=False, max_length=300, assume_scheme="https", label=_("site web")
    )

    class Meta:
        model = Resource
        # The CSV columns (less the id) and the staff who may see callbacks.
        fields = [*EXPORT_COLUMNS[1:], "staff"]
        help_texts = {
            "departments": _('Départements couverts, liste JSON : ["94", "93"].'),
            "communes": _('Communes couvertes (codes INSEE) : ["94028"].'),
            "services": _("Aucun : visible de tous les services."),
            "callback_services": _(
                "Services pour lesquels l'association rappelle les personnes "
                "(il lui faut une clé : manage.py create_partner_key)."
            ),
            "staff": _("Comptes de l'association qui voient ses demandes de rappel."),
        }


class CsvImportForm(forms.Form):
    file = forms.FileField(label=_("fichier CSV (format de l'export)"))


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    form = ResourceForm
    list_display = [
        "name",
        "kind",
        "commune_name",
        "department",
        "phone",
        "verified_at",
        "active",
        "has_key",
    ]
    list_filter = [VerifiedFilter, "kind", "active", "is_national", "department"]
    search_fields = ["name", "commune_name", "phone", "source_ref"]
    filter_horizontal = ["services", "callback_services", "staff"]
    readonly_fields = ["key_fingerprint", "verified_by", "created_at", "updated_at"]
    actions = ["mark_verified", "export_csv"]
    change_list_template = "directory/admin/resource_change_list.html"

    @admin.display(description=_("clé de rappel"), boolean=True)
    def has_key(self, resource: Resource) -> bool:
        return bool(resource.key_fingerprint)

    @admin.action(description=_("Marquer vérifiées aujourd'hui"))
    def mark_verified(self, request: HttpRequest, queryset: QuerySet) -> None:
        for resource in queryset:
            do_verify_resource(resource, user=request.user)
        self.message_user(request, _("Entrées marquées vérifiées."), messages.SUCCESS)

    @admin.action(description=_("Exporter en CSV"))
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        response = HttpResponse(
            export_resources_text(queryset.order_by("name", "id")),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="annuaire.csv"'
        return response

    def get_urls(self) -> list:
        urls = [
            path(
                "import-csv/",
                self.admin_site.admin_view(self.import_csv),
                name="directory_resource_import",
            )
        ]
        return urls + super().get_urls()

    def import_csv(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request) or not self.has_add_permission(
            request
        ):
            return HttpResponse(status=403)
        form = CsvImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            text = form.cleaned_data["file"].read().decode("utf-8-sig")
            report = do_import_resources(io.StringIO(text))
            for error in report.errors or ():
                self.message_user(request, error, messages.WARNING)
            self.message_user(request, str(report), messages.SUCCESS)
            return redirect("admin:directory_resource_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": _("Importer l'annuaire (CSV)"),
            "opts": self.model._meta,
        }
        return render(request, "directory/admin/import_csv.html", context)

    def save_model(
        self, request: HttpRequest, obj: Resource, form: Any, change: bool
    ) -> None:
        if "verified_at" in form.changed_data and obj.verified_at:
            obj.verified_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Orientation)
class OrientationAdmin(admin.ModelAdmin):
    """Each resource shared with a visitor; read only, counted by kind."""

    list_display = [
        "shared_at",
        "resource_name",
        "resource_kind",
        "service",
        "department",
    ]
    list_filter = ["resource_kind", "service", "department"]
    date_hierarchy = "shared_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        counts = count_orientations()
        summary = ", ".join(
            f"{Resource.Kind(kind).label} : {number}"
            for kind, number in sorted(counts["by_kind"].items())
        )
        if summary:
            self.message_user(
                request, f"{counts['total']} orientations — {summary}", messages.INFO
            )
        return super().changelist_view(request, extra_context)


@admin.register(CallbackRequest)
class CallbackRequestAdmin(admin.ModelAdmin):
    """Callback requests, without their sealed details."""

    list_display = ["created_at", "partner", "service", "status", "handled_at"]
    list_filter = ["status", "partner", "service"]
    fields = [
        "id",
        "partner",
        "service",
        "status",
        "created_at",
        "handled_at",
        "handled_by",
        "key_fingerprint",
        "reveal_count",
        "last_revealed_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
