"""Names of contact fields as people read them, not as the protocol spells them."""

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()

CONTACT_FIELD_LABELS = {
    "name": _("nom"),
    "phone": _("téléphone"),
    "email": _("adresse électronique"),
    "address": _("adresse postale"),
    "availability": _("disponibilités"),
}


@register.filter
def contact_label(field: str) -> str:
    """``phone`` → « téléphone »; an unknown key is shown as it is."""
    return str(CONTACT_FIELD_LABELS.get(field, field))


@register.filter
def contact_labels(fields: list[str]) -> str:
    return ", ".join(contact_label(field) for field in fields)
