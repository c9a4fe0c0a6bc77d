"""Administration of services (helplines) and of the competence table.

Administrators edit a service's hours, coverage, roles, notices and
consent texts, and correct the police/gendarmerie competence of a commune.
The source of every competence value is shown, and the estimate is
labelled as approximate (data README §4); an override goes through
``do_override_competence``, which records it.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from chat.competence import do_override_competence, unit_for
from chat.hours import describe_service_hours, validate_closed_days, validate_hours
from chat.models import (
    CommuneCompetence,
    CompetenceOverride,
    ConsentText,
    Conversation,
    Service,
)

ROLE_CHOICES = Conversation.VisitorRole.choices


class ServiceAdminForm(forms.ModelForm):
    """Service form: JSON fields checked, roles as check boxes."""

    roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("rôles acceptés (aucun coché : tous)"),
    )

    class Meta:
        model = Service
        fields = [
            "name",
            "slug",
            "description",
            "active",
            "priority",
            "roles",
            "departments",
            "communes",
            "is_default",
            "routing_group",
            "force",
            "accepts_visitors",
            "opening_hours",
            "hours_text",
            "closed_days",
            "psychologist_hours",
            "emergency_notice",
            "offers_callbacks",
            "topic",
            "overflow_service",
            "overflow_waiting",
        ]
        help_texts = {
            "departments": _('Liste JSON, ex. ["94"]. Vide : toute la France.'),
            "communes": _('Codes INSEE couverts en plus, ex. ["13004"].'),
            "opening_hours": _(
                'Heure de Paris, ex. {"mon": [["09:00", "18:00"]]}; '
                "vide : toujours ouvert. Le passage à l'heure d'été suit Paris."
            ),
            "psychologist_hours": _("Même forme ; vide : aux heures du service."),
            "closed_days": _('Ex. ["12-25", "2026-05-14"] (MM-JJ : chaque année).'),
            "routing_group": _(
                "Nom commun des files d'une même plateforme (ex. national) ; "
                "la file est choisie par la compétence de la commune."
            ),
            "force": _("Force de cette file, dans un groupe de routage."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "topic" in self.fields:
            self.fields["topic"].required = False

    def clean_topic(self) -> str:
        return self.cleaned_data.get("topic") or Service.Topic.VIOLENCE

    def clean_opening_hours(self) -> Any:
        return self._hours("opening_hours")

    def clean_psychologist_hours(self) -> Any:
        return self._hours("psychologist_hours")

    def clean_closed_days(self) -> Any:
        value = self.cleaned_data.get("closed_days") or []
        problems = validate_closed_days(value)
        if problems:
            raise forms.ValidationError(problems)
        return value

    def clean_departments(self) -> Any:
        return self._codes("departments")

    def clean_communes(self) -> Any:
        return self._codes("communes")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        group = data.get("routing_group")
        if group and Service.objects.filter(slug=group).exclude(pk=self.instance.pk):
            self.add_error(
                "routing_group", _("Ce nom est déjà le slug d'un autre service.")
            )
        if data.get("force") and not group:
            self.add_error("routing_group", _("Une force suppose un groupe."))
        overflow = data.get("overflow_service")
        if overflow is not None and overflow.pk == self.instance.pk:
            self.add_error(
                "overflow_service", _("Un service ne peut pas déborder sur lui-même.")
            )
        return data

    def _hours(self, name: str) -> Any:
        value = self.cleaned_data.get(name) or {}
        problems = validate_hours(value)
        if problems:
            raise forms.ValidationError(problems)
        return value

    def _codes(self, name: str) -> Any:
        value = self.cleaned_data.get(name) or []
        if not isinstance(value, list) or not all(
            isinstance(code, str) and 2 <= len(code) <= 5 for code in value
        ):
            raise forms.ValidationError(_("Une liste JSON de codes."))
        return value


class ConsentTextForm(forms.ModelForm):
    """A text a visitor has seen is never edited: add a new version instead."""

    class Meta:
        model = ConsentText
        fields = ["version", "lang", "active", "text"]

    def clean(self) -> dict:
        from escalation.consent import consent_text_is_used

        cleaned = super().clean()
        instance = self.instance
        if instance.pk and consent_text_is_used(instance):
            changed = set(self.changed_data) - {"active"}
            if changed or cleaned.get("DELETE"):
                raise forms.ValidationError(
                    _(
                        "Ce texte a déjà été présenté à des personnes : il ne "
                        "peut plus être modifié ni supprimé. Ajoutez une "
                        "nouvelle version (et désactivez celle-ci)."
                    )
                )
        return cleaned


class ConsentTextInline(admin.StackedInline):
    model = ConsentText
    form = ConsentTextForm
    extra = 0
    fields = ["version", "lang", "active", "text", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    form = ServiceAdminForm
    list_display = [
        "name",
        "slug",
        "active",
        "accepts_visitors",
        "routing_group",
        "force",
        "coverage",
        "hours",
        "offers_callbacks",
        "topic",
        "overflow_service",
    ]
    list_filter = ["active", "topic", "routing_group", "offers_callbacks"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ConsentTextInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "active", "priority"]}),
        (
            _("Qui et où"),
            {"fields": ["topic", "roles", "departments", "communes", "is_default"]},
        ),
        (
            _("Quand il est fermé ou complet"),
            {"fields": ["overflow_service", "overflow_waiting"]},
        ),
        (
            _("Routage par compétence"),
            {"fields": ["routing_group", "force", "accepts_visitors"]},
        ),
        (
            _("Horaires (Europe/Paris)"),
            {
                "fields": [
                    "opening_hours",
                    "hours_text",
                    "closed_days",
                    "psychologist_hours",
                ]
            },
        ),
        (_("Avis et rappels"), {"fields": ["emergency_notice", "offers_callbacks"]}),
    ]

    @admin.display(description=_("couverture"))
    def coverage(self, service: Service) -> str:
        parts = list(service.departments) + list(service.communes)
        return ", ".join(parts) if parts else str(_("France entière"))

    @admin.display(description=_("horaires"))
    def hours(self, service: Service) -> str:
        return describe_service_hours(service)


class CompetenceOverrideInline(admin.TabularInline):
    model = CompetenceOverride
    extra = 0
    can_delete = False
    fields = ["created_at", "user", "previous_force", "new_force", "note"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class HasOverrideFilter(admin.SimpleListFilter):
    title = _("corrigée")
    parameter_name = "corrigee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list:
        return [("oui", _("oui")), ("non", _("non"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "oui":
            return queryset.exclude(override_force="")
        if self.value() == "non":
            return queryset.filter(override_force="")
        return queryset


class CommuneCompetenceForm(forms.ModelForm):
    class Meta:
        model = CommuneCompetence
        fields = ["override_force", "override_note"]
        labels = {
            "override_force": _("correction (vide : valeur importée)"),
            "override_note": _("motif de la correction"),
        }


@admin.register(CommuneCompetence)
class CommuneCompetenceAdmin(admin.ModelAdmin):
    """The commune → force table; the imported columns are read-only."""

    form = CommuneCompetenceForm
    list_display = [
        "code_insee",
        "name",
        "department",
        "force_in_effect",
        "source_label",
        "unit",
        "population",
    ]
    list_filter = [
        "imported_source",
        "imported_force",
        HasOverrideFilter,
        "official_force",
    ]
    search_fields = ["code_insee", "name"]
    ordering = ["code_insee"]
    readonly_fields = [
        "code_insee",
        "name",
        "department",
        "population",
        "force_in_effect",
        "source_label",
        "official_force",
        "official_unit",
        "estimated_force",
        "imported_force",
        "imported_source",
        "imported_at",
        "overridden_by",
        "overridden_at",
    ]
    fieldsets = [
        (None, {"fields": ["code_insee", "name", "department", "population"]}),
        (
            _("Valeur en vigueur"),
            {"fields": ["force_in_effect", "source_label"]},
        ),
        (
            _("Import"),
            {
                "description": _(
                    "Officiel : fichier du Ministère de l'Intérieur "
                    "(data.gouv.fr 5489cda0c751df35a24120e7). Estimation : "
                    "APPROXIMATION par la population (≥ 15 000 habitants ou "
                    "Paris et petite couronne : police), fausse pour environ "
                    "14 % de la population ; à vérifier et corriger."
                ),
                "fields": [
                    "official_force",
                    "official_unit",
                    "estimated_force",
                    "imported_force",
                    "imported_source",
                    "imported_at",
                ],
            },
        ),
        (
            _("Correction par un·e administrateur·rice"),
            {
                "fields": [
                    "override_force",
                    "override_note",
                    "overridden_by",
                    "overridden_at",
                ]
            },
        ),
    ]
    inlines = [CompetenceOverrideInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("force"), ordering="imported_force")
    def force_in_effect(self, row: CommuneCompetence) -> str:
        return CommuneCompetence.Force(row.force).label

    @admin.display(description=_("source"), ordering="imported_source")
    def source_label(self, row: CommuneCompetence) -> str:
        if row.source == CommuneCompetence.Source.ESTIMATE:
            return format_html(
                "<strong>⚠ {}</strong>", _("estimation — approximative, à vérifier")
            )
        return CommuneCompetence.Source(row.source).label

    @admin.display(description=_("unité compétente"))
    def unit(self, row: CommuneCompetence) -> str:
        return unit_for(row)

    def save_model(
        self, request: HttpRequest, obj: CommuneCompetence, form: Any, change: bool
    ) -> None:
        # The override is recorded by the service, never saved directly.
        do_override_competence(
            obj,
            force=form.cleaned_data.get("override_force") or "",
            note=form.cleaned_data.get("override_note") or "",
            user=request.user,
        )


@admin.register(CompetenceOverride)
class CompetenceOverrideAdmin(admin.ModelAdmin):
    """The record of every override: read only."""

    list_display = [
        "created_at",
        "competence",
        "previous_force",
        "new_force",
        "user",
        "note",
    ]
    list_filter = ["new_force"]
    search_fields = ["competence__code_insee", "competence__name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
