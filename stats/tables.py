"""The page's tables, built once and shown as HTML, CSV and print.

Every chart on the page draws one of these tables, and every table can be
downloaded as CSV with the same rows (raw numbers: seconds, ratios).
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chat.models import Conversation
from directory.models import Resource
from stats.models import Feedback
from stats.selectors import MAIN_OUTCOMES, Figures, series_keys

WEEKDAYS = {
    1: gettext_lazy("lundi"),
    2: gettext_lazy("mardi"),
    3: gettext_lazy("mercredi"),
    4: gettext_lazy("jeudi"),
    5: gettext_lazy("vendredi"),
    6: gettext_lazy("samedi"),
    7: gettext_lazy("dimanche"),
}

SHORT_OUTCOMES = {
    "report": gettext_lazy("Signalements"),
    "orientation": gettext_lazy("Orientations"),
    "information": gettext_lazy("Informations"),
    "other": gettext_lazy("Autres issues"),
}


@dataclass
class Table:
    """Rows of raw values; a column's kind says how to show them.

    Kinds: text, int, pct (a ratio), dur (seconds), num; "row" takes the
    kind from the row's last item (tables mixing counts and durations).
    """

    slug: str
    title: str
    columns: list[tuple[str, str]]
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""

    def typed_rows(self) -> list[list[tuple[Any, str]]]:
        mixed = any(kind == "row" for _label, kind in self.columns)
        result = []
        for row in self.rows:
            row_kind = row[-1] if mixed else None
            result.append(
                [
                    (value, row_kind if kind == "row" else kind)
                    for value, (_label, kind) in zip(row, self.columns, strict=False)
                ]
            )
        return result

    def display_rows(self) -> list[list[tuple[str, bool]]]:
        """Formatted cells, each with whether it is a number (right-aligned)."""
        return [
            [(show(value, kind), kind != "text") for value, kind in row]
            for row in self.typed_rows()
        ]

    def csv_rows(self) -> list[list[Any]]:
        header = [
            f"{label} (s)" if kind == "dur" else label for label, kind in self.columns
        ]
        return [header] + [
            [raw(value, kind) for value, kind in row] for row in self.typed_rows()
        ]


def show(value: Any, kind: str) -> str:
    """Format a value for the page in the current language."""
    if value is None:
        return "–"
    if kind == "int":
        return number_format(value, force_grouping=True)
    if kind == "pct":
        return f"{number_format(value * 100, 1)} %"
    if kind == "dur":
        return format_duration(value)
    if kind == "num":
        return number_format(value, 1, force_grouping=True)
    return str(value)


def raw(value: Any, kind: str) -> Any:
    """A value for CSV: plain numbers, seconds, ratios; empty for none."""
    if value is None:
        return ""
    if kind == "pct":
        return round(value, 4)
    if kind in ("dur", "num"):
        return round(value, 1)
    return value


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return _("%(s)s s") % {"s": seconds}
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return _("%(m)s min %(s)02d s") % {"m": minutes, "s": secs}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)s h %(m)02d min") % {"h": hours, "m": minutes}


def bucket_label(key: Any, bucket: str) -> str:
    if bucket == "hour":
        return f"{key} h"
    if bucket == "day":
        return date_format(key, "d/m")
    return date_format(date(key[0], key[1], 1), "M Y")


def _counter_rows(counter: Any, labels: dict[str, str]) -> list[list[Any]]:
    total = sum(counter.values())
    return [
        [str(labels.get(key, key)), value, value / total if total else None]
        for key, value in sorted(counter.items(), key=lambda item: -item[1])
    ]


def _share_columns(first: str) -> list[tuple[str, str]]:
    return [(first, "text"), (_("Nombre"), "int"), (_("Part"), "pct")]


def build_tables(figures: Figures, previous: Figures) -> dict[str, Table]:
    """Return every table of the page, keyed by slug, in page order."""
    outcomes = dict(Conversation.Outcome.choices)
    tables: dict[str, Table] = {}

    def add(table: Table) -> None:
        tables[table.slug] = table

    events = figures.events
    summary = [
        [_("Conversations commencées"), figures.started],
        [_("Conversations prises en charge"), figures.handled],
        [_("Abandons en attente"), figures.abandoned_waiting],
        [_("Taux d'abandon en attente"), figures.abandonment_rate],
        [_("Fins avant toute réponse de l'équipe"), figures.left_before_reply],
        [_("Encore ouvertes"), figures.open_now],
        [_("Signalements à un service d'enquête"), figures.outcomes["report"]],
        [_("Orientations"), figures.outcomes["orientation"]],
        [_("Demandes d'information"), figures.outcomes["information"]],
        [_("Marquées urgentes"), figures.urgent],
        [_("Victimes mineures"), figures.minor],
        [_("Psychologue proposé·e"), events.get("psychologist_asked", 0)],
        [
            _("Psychologue refusé·e par la personne"),
            events.get("psychologist_declined", 0),
        ],
        [_("Arrivées d'un·e psychologue"), events.get("psychologist_joins", 0)],
        [_("Transferts entre services"), events.get("transfers", 0)],
    ]
    if "transfers_in" in events:
        summary += [
            [_("dont reçus"), events["transfers_in"]],
            [_("dont envoyés"), events["transfers_out"]],
        ]
    summary += [
        [_("Passages de relais"), events.get("handovers", 0)],
        [_("Fiches de l'annuaire partagées"), sum(figures.cards.values())],
        [_("Demandes de rappel (suivi)"), events.get("callbacks", 0)],
        [_("Avis des personnes"), sum(figures.feedback.values())],
    ]
    add(
        Table(
            "summary",
            _("Chiffres clés"),
            [(_("Indicateur"), "text"), (_("Valeur"), "row")],
            [
                [label, value, "pct" if isinstance(value, float) else "int"]
                for label, value in summary
            ],
        )
    )
    bucket = figures.period.bucket
    add(
        Table(
            "series",
            _("Évolution sur la période"),
            [
                (_("Période"), "text"),
                (_("Commencées"), "int"),
                (_("Prises en charge"), "int"),
                (_("Abandons en attente"), "int"),
                *[(str(SHORT_OUTCOMES[key]), "int") for key in MAIN_OUTCOMES],
            ],
            [
                [
                    bucket_label(key, bucket),
                    counts["started"],
                    counts["handled"],
                    counts["abandoned"],
                    *[counts[key] for key in MAIN_OUTCOMES],
                ]
                for key, counts in figures.series.items()
            ],
            note=_("Une conversation compte dans la période où elle a commencé."),
        )
    )
    previous_by_key = list(previous.series.values())
    add(
        Table(
            "comparison",
            _("Comparaison avec l'année précédente"),
            [
                (_("Période"), "text"),
                (_("Commencées, année précédente"), "int"),
                (_("Commencées"), "int"),
                (_("Prises en charge, année précédente"), "int"),
                (_("Prises en charge"), "int"),
            ],
            [
                [
                    bucket_label(key, bucket),
                    previous_by_key[i]["started"] if i < len(previous_by_key) else 0,
                    counts["started"],
                    previous_by_key[i]["handled"] if i < len(previous_by_key) else 0,
                    counts["handled"],
                ]
                for i, (key, counts) in enumerate(figures.series.items())
            ]
            + [
                [
                    _("Total"),
                    previous.started,
                    figures.started,
                    previous.handled,
                    figures.handled,
                ]
            ],
            note=_("Mêmes dates un an plus tôt : %(period)s.")
            % {"period": previous.period.label},
        )
    )
    ordered = [*MAIN_OUTCOMES, "visitor_left", "abandoned"]
    add(
        Table(
            "outcomes",
            _("Issue des conversations prises en charge"),
            _share_columns(_("Issue")),
            _counter_rows(
                {
                    key: figures.outcomes[key]
                    for key in ordered
                    if figures.outcomes[key]
                },
                outcomes,
            ),
        )
    )
    add(
        Table(
            "roles",
            _("Qui écrit"),
            _share_columns(_("La personne est")),
            _counter_rows(figures.roles, dict(Conversation.VisitorRole.choices)),
        )
    )
    add(
        Table(
            "categories",
            _("Catégories"),
            _share_columns(_("Catégorie")),
            _counter_rows(figures.categories, {}),
            note=_("Une conversation peut avoir plusieurs catégories."),
        )
    )
    add(
        Table(
            "departments",
            _("Départements"),
            _share_columns(_("Département")),
            _counter_rows(figures.departments, {"?": _("inconnu")}),
        )
    )
    add(
        Table(
            "services",
            _("Services"),
            _share_columns(_("Service")),
            _counter_rows(figures.services, {}),
            note=_(
                "Une conversation transférée compte une fois dans chaque service "
                "où elle est passée : la somme peut dépasser le total."
            ),
        )
    )
    kind_labels = {"transfer": _("transfert"), "handover": _("passage de relais")}
    add(
        Table(
            "transfers",
            _("Transferts et passages de relais"),
            [
                (_("Type"), "text"),
                (_("De"), "text"),
                (_("Vers"), "text"),
                (_("Nombre"), "int"),
            ],
            [
                [
                    kind_labels[row["kind"]],
                    row["from_name"] or "?",
                    row["to_name"],
                    row["n"],
                ]
                for row in figures.transfers
            ],
        )
    )
    quality = [
        (_("Attente avant prise en charge"), figures.wait, "dur"),
        (
            _("Délai de première réponse après prise en charge"),
            figures.first_reply,
            "dur",
        ),
        (_("Durée des conversations"), figures.length, "dur"),
        (_("Messages par conversation"), figures.messages, "num"),
    ]
    add(
        Table(
            "quality",
            _("Qualité de service"),
            [
                (_("Mesure"), "text"),
                (_("Conversations"), "int"),
                (_("Médiane"), "row"),
                (_("90ᵉ centile"), "row"),
            ],
            [
                [
                    label,
                    values.get("n", 0),
                    values.get("median"),
                    values.get("p90"),
                    kind,
                ]
                for label, values, kind in quality
            ],
        )
    )
    hour_columns = [
        (_("Commencées"), "int"),
        (_("Abandons en attente"), "int"),
        (_("Taux d'abandon"), "pct"),
        (_("Attente médiane"), "dur"),
    ]
    add(
        Table(
            "hours",
            _("Par heure de la journée"),
            [(_("Heure"), "text"), *hour_columns],
            [[f"{hour} h", *_slot(figures.by_hour.get(hour))] for hour in range(24)],
            note=_("Heure de Paris au début de la conversation."),
        )
    )
    add(
        Table(
            "weekdays",
            _("Par jour de la semaine"),
            [(_("Jour"), "text"), *hour_columns],
            [
                [str(WEEKDAYS[day]), *_slot(figures.by_weekday.get(day))]
                for day in range(1, 8)
            ],
        )
    )
    add(
        Table(
            "heatmap",
            _("Conversations commencées par jour et heure"),
            [(_("Jour"), "text"), *[(f"{hour} h", "int") for hour in range(24)]],
            [
                [str(WEEKDAYS[day]), *[figures.heat[(day, hour)] for hour in range(24)]]
                for day in range(1, 8)
            ],
        )
    )
    staff = figures.staff
    add(
        Table(
            "staff",
            _("Charge des équipes"),
            [(_("Indicateur"), "text"), (_("Valeur"), "row")],
            [
                [
                    _("Opérateur·rices ayant clos une conversation"),
                    staff.get("operators"),
                    "int",
                ],
                [
                    _("Journées de travail (opérateur·rice × jour)"),
                    staff.get("operator_days"),
                    "int",
                ],
                [
                    _("Conversations par journée de travail, moyenne"),
                    staff.get("per_operator_day"),
                    "num",
                ],
                [
                    _("Conversations par journée de travail, maximum"),
                    staff.get("max_per_operator_day"),
                    "int",
                ],
                [_("Heures de conversation"), staff.get("conversation_hours"), "num"],
            ],
            note=_(
                "Occupation : les heures de conversation rapportées aux "
                "journées de travail ; un·e opérateur·rice peut tenir "
                "plusieurs conversations à la fois."
            ),
        )
    )
    add(
        Table(
            "cards",
            _("Fiches de l'annuaire partagées, par type"),
            _share_columns(_("Type de ressource")),
            _counter_rows(figures.cards, dict(Resource.Kind.choices)),
        )
    )
    add(
        Table(
            "feedback",
            _("« Cette conversation vous a-t-elle aidé·e ? »"),
            _share_columns(_("Réponse")),
            _counter_rows(figures.feedback, dict(Feedback.Answer.choices)),
            note=_("Réponses facultatives, jamais reliées à une conversation."),
        )
    )
    answers = dict(Feedback.Answer.choices)
    add(
        Table(
            "comments",
            _("Commentaires des personnes"),
            [(_("Jour"), "text"), (_("Réponse"), "text"), (_("Commentaire"), "text")],
            [
                [
                    date_format(day, "SHORT_DATE_FORMAT"),
                    str(answers.get(answer, answer)),
                    comment,
                ]
                for day, answer, comment in figures.comments
            ],
            note=_("Les 100 plus récents de la période."),
        )
    )
    if figures.escalation is not None:
        add(
            Table(
                "escalation",
                _("Consentements, signalements et levées d'anonymat"),
                [(_("Indicateur"), "text"), (_("Nombre"), "int")],
                [[label, value] for label, value in figures.escalation.items()],
            )
        )
    return tables


def _slot(slot: dict[str, Any] | None) -> list[Any]:
    if slot is None:
        return [0, 0, None, None]
    return [slot["started"], slot["abandoned"], slot["rate"], slot["median_wait"]]


__all__ = ["Table", "build_tables", "bucket_label", "series_keys", "WEEKDAYS"]
