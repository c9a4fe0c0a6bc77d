"""The console page's interface strings, translated on the server.

The page's JavaScript reads them from a ``json_script`` element, so the
console follows the staff member's language (French by default) with no
JavaScript catalogue and no inline script.
"""

from django.utils.translation import gettext as _


def get_console_strings() -> dict[str, str]:
    return {
        "connected": _("Connecté·e"),
        "hidden_char": _(
            "Caractère invisible ou d'inversion du sens du texte, montré ici "
            "sans être appliqué"
        ),
        "offline": _("Hors ligne — reconnexion…"),
        "queue_empty": _("Personne n'attend."),
        "claim": _("Prendre"),
        "waiting": _("attend depuis"),
        "min": _("min"),
        "urgent": _("Urgent"),
        "minor": _("Mineur·e"),
        "you": _("Vous"),
        "visitor": _("Personne"),
        "operator": _("Opérateur·rice"),
        "psychologist": _("Psychologue"),
        "supervisor": _("Superviseur·e"),
        "administrator": _("Administrateur·rice"),
        "custodian": _("Dépositaire de clé"),
        "system": _("Système"),
        "victim": _("victime"),
        "witness": _("témoin"),
        "relative": _("proche"),
        "professional": _("professionnel·le"),
        "concerned": _("personne concernée"),
        "note": _("Note privée"),
        "whisper": _("Chuchotement (équipe seulement)"),
        "message": _("Message à la personne"),
        "send": _("Envoyer"),
        "sending": _("envoi…"),
        "typing": _("écrit…"),
        "new_message": _("Nouveau message"),
        "new_in_queue": _("Nouvelle personne en attente"),
        "joined": _("a rejoint la conversation"),
        "joined_silent": _("observe la conversation (invisible pour la personne)"),
        "left": _("a quitté la conversation"),
        "reconnecting": _("reconnexion en cours"),
        "closed": _("Conversation terminée"),
        "released": _("Conversation rendue"),
        "handed_over": _("Vous prenez maintenant la conversation en charge."),
        "handed_over_other": _("a pris la conversation en charge"),
        "invite_psychologist": _("Inviter un·e psychologue"),
        "invite_colleague": _("Inviter un·e collègue"),
        "invitation": _("Invitation"),
        "invitation_asking": _("Demande en cours auprès de la personne…"),
        "invitation_offered": _("La personne a accepté ; en attente d'un·e collègue."),
        "invitation_accepted": _("Invitation acceptée."),
        "invitation_declined": _("La personne a refusé."),
        "invitation_cancelled": _("Invitation annulée."),
        "cancel": _("Annuler"),
        "join": _("Rejoindre"),
        "watch": _("Observer"),
        "leave": _("Quitter"),
        "hand_over_leave": _("Passer la main et quitter"),
        "release": _("Remettre en file"),
        "transfer": _("Transférer"),
        "close": _("Clore"),
        "confirm_close": _("Clore la conversation"),
        "outcome_required": _("Choisissez une issue."),
        "summary": _("Résumé pour la personne invitée (équipe seulement)"),
        "canned": _("Réponses types"),
        "canned_pick": _("Insérer une réponse type…"),
        "canned_new": _("Nouvelle réponse type"),
        "canned_save": _("Enregistrer"),
        "canned_delete": _("Supprimer"),
        "title": _("Titre"),
        "text": _("Texte"),
        "service": _("Service"),
        "board": _("Tableau"),
        "board_conversations": _("Conversations des services"),
        "board_staff": _("Personnel"),
        "online": _("en ligne"),
        "away": _("hors ligne"),
        "load": _("Charge"),
        "silent": _("invisible pour la personne"),
        "state": _("État"),
        "person": _("Personne"),
        "name": _("Nom"),
        "roles": _("Rôles"),
        "presence": _("Présence"),
        "auto": _("Attribution auto."),
        "status_waiting": _("en attente"),
        "status_active": _("en cours"),
        "no_conversation": _(
            "Aucune conversation ouverte. Prenez la suivante dans la file (Alt+N)."
        ),
        "history_start": _("Début de la conversation"),
        "participants": _("Présent·es"),
        "error": _("Erreur"),
        "auto_assign_on": _("Attribution automatique activée"),
        "auto_assign_off": _("Attribution automatique désactivée"),
        "expired": _("Session expirée : reconnectez-vous."),
        "flag_urgent": _("Urgent"),
        "flag_minor": _("Victime mineure"),
        "as_supervisor": _(
            "Vous observez en silence. Écrire à la personne vous rendra visible."
        ),
        "as_psychologist": _("Vous participez en tant que psychologue."),
        "as_guest": _("Vous avez été invité·e par un·e collègue."),
        # Read by screen readers: the unread count in a tab's name, the
        # notice of a new assignment, the board's action column.
        "unread": _("{n} non lu(s)"),
        "assigned": _("Nouvelle conversation attribuée"),
        "action": _("Action"),
        "canned_edit": _("Modifier"),
        "canned_confirm_delete": _("Supprimer la réponse type « {title} » ?"),
        "consent_asked": _("Consentement demandé : en attente de la réponse."),
        "consent_accepted": _(
            "Consentement donné. Complétez le signalement (Signalement et réquisition)."
        ),
        "consent_declined": _("La personne a refusé : rien n'est transmis."),
        "consent_fields": _("coordonnées données"),
        "field_name": _("nom"),
        "field_phone": _("téléphone"),
        "field_email": _("adresse électronique"),
        "field_address": _("adresse postale"),
        "field_availability": _("disponibilités"),
        "report_alerts": _("Signalements non remis à leur unité"),
        "report_attempts": _("essais en échec"),
        # Issue 16: a visitor back with a receipt code.
        "follow_up": _("Suivi"),
        "follow_up_outcome": _(
            "Suivi : la personne revient avec son code. Issue précédente : {outcome}."
        ),
        "follow_up_open": _("Suivi : la personne revient avec son code."),
        "attach": _("Joindre un fichier"),
        "size_bytes": _("{n} octets"),
        "size_kb": _("{n} Ko"),
        "size_mb": _("{n} Mo"),
        "attachment_preview": _("Aperçu de {name}"),
        "attachment_pdf": _("PDF"),
        "attachment_image": _("Image"),
        "attachment_download": _("Télécharger"),
        "attachment_sending_label": _("Envoi du fichier"),
        "attachment_preparing": _("Préparation de l'envoi de {name}…"),
        "attachment_sending": _("Envoi de {name}…"),
        "attachment_sent": _("{name} envoyé, sans ses métadonnées."),
        "attachment_too_large": _("Fichier trop lourd : {max} au plus."),
        "attachment_refused_type": _(
            "Fichier refusé : seules les images JPEG, PNG, WebP et les PDF passent."
        ),
        "attachment_failed": _("L'envoi a échoué. Réessayez."),
        # Issue 10: what the console now shows and does.
        "force_PN": _("police nationale"),
        "force_GN": _("gendarmerie nationale"),
        "force_PN+GN": _("partagée police / gendarmerie"),
        "competence": _("Compétence"),
        "competence_estimate": _("estimation, à vérifier"),
        "competence_confirmed": _("force confirmée"),
        "confirm_force_question": _(
            "Commune partagée ou estimée : demandez à la personne et confirmez."
        ),
        "force_confirmed": _("Force confirmée"),
        "force_to_confirm": _("force à confirmer"),
        "force_transferred": _("Conversation confiée à l'autre force"),
        "queue_of": _("file"),
        "presence_here": _("La personne est là"),
        "presence_reconnecting": _("La personne se reconnecte…"),
        "presence_gone": _("La personne est partie"),
        "wrap_up_left": _(
            "La personne a mis fin à la conversation. Enregistrez l'issue pour "
            "la clore."
        ),
        "wrap_up_quick_exit": _(
            "La personne a quitté la page en urgence (sortie rapide). "
            "Enregistrez l'issue pour la clore."
        ),
        "wrap_up_tab": _("à clore"),
        "wrapped_up": _("Issue enregistrée"),
        "supervisor_speaks": _(
            "Attention : ce message sera vu par la personne et vous rendra visible."
        ),
        "supervisor_whisper_default": _(
            "Vous écrivez en chuchotement : seule l'équipe le lira."
        ),
        "directory": _("Annuaire"),
        "directory_share": _("Partager dans la conversation"),
        "directory_shared": _("Fiche partagée avec la personne"),
        "directory_searching": _("Recherche…"),
        "directory_none": _("Aucune structure trouvée."),
        "directory_count": _("%(n)s structure(s)"),
        "directory_commune_unknown": _("Commune introuvable."),
        "directory_for": _("Pour"),
        "directory_not_shareable": _("Numéro à donner oralement ou par message."),
        "directory_verified": _("vérifiée"),
        "psy_on_duty": _("Psychologues de permanence en ligne : %(names)s."),
        "psy_checking": _("Permanence en cours, recherche des psychologues en ligne…"),
        "psy_none_online": _("Permanence en cours, mais aucun·e psychologue en ligne."),
        "psy_off_duty": _("Hors permanence des psychologues."),
        "psy_hours": _("Permanence : %(hours)s"),
        "logout_open": _(
            "Vous avez %(n)s conversation(s) en cours. Remettez-les en file ou "
            "transférez-les avant de partir."
        ),
        "shift_warning": _(
            "Votre service se termine dans %(min)s min : la console se "
            "déconnectera. Passez la main à vos collègues."
        ),
        "shift_over": _("Fin de votre service : reconnectez-vous."),
        "callback_requested": _("Demande de rappel"),
    }
