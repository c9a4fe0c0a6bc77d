"""The staff login form: identifier, password and the authenticator's code."""

from django import forms
from django.utils.translation import gettext_lazy as _


class StaffLoginForm(forms.Form):
    username = forms.CharField(
        label=_("Identifiant"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Mot de passe"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = forms.RegexField(
        label=_("Code de l'application d'authentification"),
        regex=r"^\d{6}$",
        max_length=6,
        error_messages={"invalid": _("Six chiffres.")},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9]{6}",
                "maxlength": "6",
            }
        ),
    )

    def point_focus_at_error(self, *, refused: bool) -> None:
        """Put the page's focus on the field to correct, tied to its message.

        A field error is already tied by Django (``aria-describedby`` ->
        ``<id>_error``, which the template renders); a refusal that names no
        field (wrong identifier, password or code) is tied to the identifier,
        where one starts again.
        """
        target = next((name for name in self.fields if name in self.errors), None)
        if target is None and refused:
            target = "username"
            attrs = self.fields[target].widget.attrs
            attrs["aria-invalid"] = "true"
            attrs["aria-describedby"] = "login-error"
        if target is None:
            return
        for name, field in self.fields.items():
            field.widget.attrs.pop("autofocus", None)
            if name == target:
                field.widget.attrs["autofocus"] = True
