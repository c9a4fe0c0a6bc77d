"""Administration of the units that receive reports.

Consent records, reports, disclosure requests and the audit trail are
not edited here: the escalation screens and their services own them.
"""

import base64
import binascii
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from escalation.models import Unit


class UnitForm(forms.ModelForm):
    class Meta:
        model = Unit
        fields = [
            "name",
            "force",
            "communes",
            "departments",
            "method",
            "address",
            "webhook_secret",
            "public_key",
            "active",
        ]
        help_texts = {
            "communes": _('Codes INSEE couverts, liste JSON : ["33063"].'),
            "departments": _('Départements couverts, liste JSON : ["33"].'),
            "address": _(
                "Selon le mode : adresse électronique, URL https du webhook, "
                "ou dossier de dépôt sur le serveur."
            ),
            "webhook_secret": _("Secret partagé de la signature HMAC (webhook)."),
            "public_key": _(
                "Clé publique X25519 de l'unité (32 octets en base64), "
                "facultative : les coordonnées lui sont alors scellées."
            ),
        }

    def clean_public_key(self) -> str:
        value = self.cleaned_data["public_key"].strip()
        if not value:
            return ""
        try:
            X25519PublicKey.from_public_bytes(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise ValidationError(_("Clé publique X25519 invalide.")) from None
        return value

    def clean(self) -> dict:
        cleaned = super().clean()
        method, address = cleaned.get("method"), cleaned.get("address", "")
        if method == Unit.Method.EMAIL:
            try:
                validate_email(address)
            except ValidationError:
                self.add_error("address", _("Adresse électronique invalide."))
        elif method == Unit.Method.WEBHOOK:
            if urlsplit(address).scheme != "https":
                self.add_error("address", _("Le webhook doit être une URL https."))
            if not cleaned.get("webhook_secret"):
                self.add_error("webhook_secret", _("Le webhook doit être signé."))
        elif method == Unit.Method.FILE and not address.startswith("/"):
            self.add_error("address", _("Un chemin absolu de dossier."))
        return cleaned


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    form = UnitForm
    list_display = ["name", "force", "method", "address", "has_key", "active"]
    list_filter = ["force", "method", "active"]
    search_fields = ["name", "address"]

    @admin.display(boolean=True, description=_("clé publique"))
    def has_key(self, unit: Unit) -> bool:
        return bool(unit.public_key)
