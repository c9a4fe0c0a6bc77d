"""The refusals the services raise, each text written once (issue 13).

A refusal is a ``Refusal`` (``chat.errors``): a protocol error code and a
message for the person, sent as an ``error`` frame by the sockets and as
an error response or form error by the views. A refusal used in more than
one place is a function here, so its code and text cannot drift apart;
``tests/test_refusals.py`` keeps it so. Functions, not constants: the
text is translated when raised, in the language of the request.
"""

from django.utils.translation import gettext as _

from chat.errors import Refusal


def conversation_not_found() -> Refusal:
    """Missing, or not the caller's to see: one answer for both."""
    return Refusal("not_found", _("Conversation introuvable."))


def role_forbidden() -> Refusal:
    """The staff member's role does not allow the action."""
    return Refusal("forbidden", _("Votre rôle ne permet pas cette action."))


def supervisors_only() -> Refusal:
    """Only supervisors may do this."""
    return Refusal("forbidden", _("Réservé aux superviseur·es."))


def not_in_charge() -> Refusal:
    """The caller is not the operator in charge."""
    return Refusal("bad_state", _("Vous ne prenez pas en charge cette conversation."))


def not_participating() -> Refusal:
    """The staff member is not in the conversation."""
    return Refusal("bad_state", _("Vous ne participez pas à cette conversation."))


def not_active() -> Refusal:
    """The conversation waits or is over: only an active one allows this."""
    return Refusal("bad_state", _("La conversation n'est pas en cours."))


def conversation_over() -> Refusal:
    """The conversation is closed."""
    return Refusal("bad_state", _("La conversation est terminée."))


def conversation_already_open() -> Refusal:
    """The visitor's socket already holds a conversation."""
    return Refusal("bad_state", _("Une conversation est déjà ouverte."))


def conversation_not_uuid() -> Refusal:
    """The frame's ``conversation`` is not a UUID."""
    return Refusal("bad_request", _("conversation doit être un UUID."))


def service_not_text() -> Refusal:
    """The frame's ``service`` is not a string."""
    return Refusal("bad_request", _("Le champ service doit être un texte."))


def token_not_text() -> Refusal:
    """The frame's ``token`` is not a string."""
    return Refusal("bad_request", _("Le champ token doit être un texte."))


def active_not_bool() -> Refusal:
    """The frame's ``active`` is not a boolean."""
    return Refusal("bad_request", _("Le champ active doit être vrai ou faux."))


def accept_not_bool() -> Refusal:
    """The frame's ``accept`` is not a boolean."""
    return Refusal("bad_request", _("Le champ accept doit être vrai ou faux."))


def after_not_positive() -> Refusal:
    """The frame's ``after`` is not a non-negative integer."""
    return Refusal("bad_request", _("after doit être un entier positif."))


def id_not_integer() -> Refusal:
    """The frame's ``id`` is not an integer."""
    return Refusal("bad_request", _("id doit être un entier."))


def unknown_action() -> Refusal:
    """A form's ``action`` is not one the screen offers."""
    return Refusal("bad_request", _("Action inconnue."))


def unknown_target_service() -> Refusal:
    """No such active service, or the conversation's own."""
    return Refusal("invalid_service", _("Service de destination inconnu."))


def queue_empty() -> Refusal:
    """Nothing waits in the staff member's queues."""
    return Refusal("queue_empty", _("Aucune conversation en attente."))


def request_not_found() -> Refusal:
    """No such request (invitation, callback, disclosure) for the caller."""
    return Refusal("not_found", _("Demande introuvable."))


def request_already_handled() -> Refusal:
    """The request was handled already."""
    return Refusal("bad_state", _("Cette demande est déjà traitée."))


def already_answered() -> Refusal:
    """The visitor answered this consent request already."""
    return Refusal("bad_state", _("Vous avez déjà répondu à cette demande."))


def canned_not_found() -> Refusal:
    """No such canned answer in the caller's services."""
    return Refusal("not_found", _("Réponse introuvable."))


def resource_not_found() -> Refusal:
    """No such directory entry."""
    return Refusal("not_found", _("Ressource introuvable."))


def file_not_found() -> Refusal:
    """No such attachment for the caller."""
    return Refusal("not_found", _("Fichier introuvable."))


def bad_upload_token() -> Refusal:
    """An unknown, used or expired upload token."""
    return Refusal("forbidden", _("Autorisation d'envoi invalide ou expirée."))


def bad_phone() -> Refusal:
    """Not a French phone number."""
    return Refusal("bad_request", _("Numéro de téléphone invalide."))


def bad_receipt_code() -> Refusal:
    """A receipt code is 16 digits."""
    return Refusal("bad_request", _("Le code de suivi compte 16 chiffres."))


def already_in_conversation() -> Refusal:
    """The staff member is in the conversation already."""
    return Refusal("bad_state", _("Vous êtes déjà dans cette conversation."))


def consent_request_not_found() -> Refusal:
    """No such consent request in the visitor's conversation."""
    return Refusal("not_found", _("Demande de consentement introuvable."))
