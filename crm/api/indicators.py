"""The CPOM indicators for BI tools: the three rates and the activity report's figures, with their freshness.

Every figure carries its numerator and denominator; the rate is null where the denominator is 0.
The filters are validated by ``crm.indicators.scope.build_scope``, as on the dashboards, so that the
pages and the API refuse the same values with the same French messages. Every role reads them.
"""

from __future__ import annotations

from datetime import date

from flask import jsonify, request

from crm.api.registry import Param, date_param, id_param, operation, query_args
from crm.api.routes import bp
from crm.api.serializers import iso
from crm.indicators import queries
from crm.indicators.event_report import EventGroup, events_by_programme, events_by_type, known_event_type
from crm.indicators.goals import API_NAMES, goals_for, report_goals, row_goal
from crm.indicators.queries import Figure, Scope
from crm.indicators.report import report_figures
from crm.indicators.scope import build_scope
from crm.platform.validation import ValidationFailed
from workflows.dispatch import outbox_status

TAG = "Indicateurs"
FILTER_PARAMS = [
    date_param(
        "start",
        "Début de la période (inclus). Sans start ni end : l'année en cours ; avec end seul : "
        "le 1er janvier de l'année de end.",
    ),
    date_param("end", "Fin de la période (incluse). Avec start seul : aujourd'hui."),
    Param(
        "department",
        {"type": "string", "maxLength": 3},
        "Code du département (31, 2A, 974). Par défaut : les départements de la région.",
    ),
    id_param("programme", "Programme CPOM."),
    id_param("offer", "Offre."),
    id_param("animator", "Animateur (identifiant de l'utilisateur)."),
    Param("sector", {"type": "string", "maxLength": 40}, "Code du secteur (sanitaire, medico_social...)."),
]
# How the cells say "none" (no programme, no sector...): null in the API.
NONE_VALUES = (0, "", None)


def _group_param(groups: tuple[str, ...]) -> Param:
    return Param(
        "group_by",
        {"type": "string", "enum": list(groups)},
        "Une ligne par valeur de cette dimension (sans group_by : l'ensemble). Une autre valeur : 422.",
    )


def _arguments(params: list[Param], groups: tuple[str, ...] | None = None) -> tuple[dict, Scope]:
    """The query and the scope it asks for. A malformed parameter is a 400, as everywhere in the API; a
    well-formed but refused one (unknown filter, range the wrong way round, group_by this indicator does not
    offer) is a 422, every refused parameter with its French message at once."""
    args = query_args([p for p in params if p.name != "group_by"])
    errors = {}
    if groups is not None:
        args["group_by"] = (request.args.get("group_by") or "").strip() or None
        if args["group_by"] is not None and args["group_by"] not in groups:
            errors["group_by"] = "Regroupement impossible pour cet indicateur : choisissez " + ", ".join(groups) + "."
    start, end = args["start"], args["end"]
    if end is not None and start is None:
        start = date(end.year, 1, 1)
    try:
        scope = build_scope(
            kind="personnalise" if start or end else None,
            start=iso(start),
            end=iso(end),
            department=args["department"],
            programme=args["programme"],
            offer=args["offer"],
            animator=args["animator"],
            sector=args["sector"],
        )
    except ValidationFailed as error:
        errors.update(error.errors)
        if "period" in errors:  # the range as a whole: said on the bound the caller gave last
            errors["end" if args["end"] is not None else "start"] = errors.pop("period")
    if errors:
        raise ValidationFailed(errors)
    return args, scope


def _filters(scope: Scope, args: dict) -> dict:
    return {
        "department": scope.departments[0] if args["department"] else None,
        "programme": scope.programme_id,
        "offer": scope.offer_id,
        "animator": scope.animator_id,
        "sector": scope.sector,
        "departments": list(scope.departments),
    }


def freshness() -> dict:
    status = outbox_status()
    return {
        "oldest_pending_at": iso(status.oldest_pending_at),
        "age_seconds": round(status.age_seconds, 3),
        "pending_events": status.pending,
    }


def _value(value):
    return None if value in NONE_VALUES else value


def _key(figure: Figure, names: tuple[str, ...]) -> dict:
    if figure.key == queries.TOTAL:
        return {}
    return {name: _value(value) for name, value in zip(names, figure.key)}


def _row(figure: Figure, names: tuple[str, ...], goal=None) -> dict:
    return {
        "key": _key(figure, names),
        "label": figure.label,
        "numerator": figure.numerator,
        "denominator": figure.denominator,
        "rate": figure.rate,
        "target": goal.target if goal else None,
        "gap": goal.gap if goal else None,
        "target_status": goal.status if goal else None,
    }


def _answer(indicator: str, compute, groups: tuple[str, ...], params: list[Param]):
    args, scope = _arguments(params, groups)
    group_by = args["group_by"]
    if indicator == "engagement":  # one row per programme, split by department or sector
        split = group_by if group_by in ("department", "sector") else None
        names = ("programme",) + ((split,) if split else ())
    else:
        names = (group_by,) if group_by else ()
    goals = goals_for(scope)
    code = API_NAMES[indicator]
    rows = [_row(figure, names, row_goal(goals, scope, code, names, figure)) for figure in compute(scope, group_by)]
    return jsonify(
        {
            "indicator": indicator,
            "period": {"start": iso(scope.period.start), "end": iso(scope.period.end)},
            "filters": _filters(scope, args),
            "group_by": group_by,
            "rows": rows,
            "freshness": freshness(),
        }
    )


TRANSFORMATION_PARAMS = [*FILTER_PARAMS, _group_param(queries.TRANSFORMATION_GROUPS)]
PARTICIPATION_PARAMS = [*FILTER_PARAMS, _group_param(queries.PARTICIPATION_GROUPS)]
ENGAGEMENT_PARAMS = [*FILTER_PARAMS, _group_param(queries.ENGAGEMENT_GROUPS)]


@operation(
    bp,
    "/indicators/transformation-rate",
    "GET",
    summary="Taux de transformation",
    tag=TAG,
    ok=(200, "IndicatorResult"),
    params=TRANSFORMATION_PARAMS,
    errors=(422,),
    description="Lecture par cohorte : des opportunités identifiées dans la période, celles devenues un "
    "projet (à ce jour). numerator = transformées, denominator = identifiées. Un filtre "
    "inconnu (département, programme, offre, animateur, secteur) ou une période refusée : 422.",
)
def transformation_rate():
    return _answer(
        "transformation-rate", queries.transformation_rate, queries.TRANSFORMATION_GROUPS, TRANSFORMATION_PARAMS
    )


@operation(
    bp,
    "/indicators/information-participation",
    "GET",
    summary="Participation aux actions d'information",
    tag=TAG,
    ok=(200, "IndicatorResult"),
    params=PARTICIPATION_PARAMS,
    errors=(422,),
    description="Structures ES et ESMS distinctes ayant participé à au moins une action d'information "
    "dans la période (événement où elles étaient présentes, activité « information ») / "
    "structures ES et ESMS ouvertes. Avec sector, ce secteur au lieu de ES et ESMS ; une "
    "offre filtre sur son programme. Par département ou secteur, chacun de ceux qui ont des "
    "structures a sa ligne, même sans participation.",
)
def information_participation():
    return _answer(
        "information-participation",
        queries.information_participation,
        queries.PARTICIPATION_GROUPS,
        PARTICIPATION_PARAMS,
    )


@operation(
    bp,
    "/indicators/engagement",
    "GET",
    summary="Taux d'engagement par programme",
    tag=TAG,
    ok=(200, "IndicatorResult"),
    params=ENGAGEMENT_PARAMS,
    errors=(422,),
    description="Une ligne par programme (key.programme) : structures engagées dans le programme (un "
    "projet en cours ou terminé, démarré au plus tard à la fin de la période) / structures de "
    "sa population cible. group_by=department ou sector ajoute la dimension à la clé. Avec "
    "animator : les structures engagées par ses projets.",
)
def engagement():
    return _answer("engagement", queries.engagement, queries.ENGAGEMENT_GROUPS, ENGAGEMENT_PARAMS)


def _ratio(figure: Figure) -> dict:
    return {
        "label": figure.label,
        "numerator": figure.numerator,
        "denominator": figure.denominator,
        "rate": figure.rate,
    }


REPORT_PARAMS = [
    *FILTER_PARAMS,
    Param(
        "event_type",
        {"type": "string", "maxLength": 40},
        "Code d'un type d'événement (webinaire, top_esante...) : les chiffres des "
        "événements ne comptent que ce type. Un code inconnu : 422.",
    ),
]


def _event_group(group: EventGroup, name: str) -> dict:
    return {name: _value(group.key), **group.as_dict()}


@operation(
    bp,
    "/indicators/report",
    "GET",
    summary="Chiffres du rapport d'activité",
    tag=TAG,
    ok=(200, "ReportResult"),
    params=REPORT_PARAMS,
    errors=(422,),
    description="Structures accompagnées (dont médico-sociales), offres présentées hors coordination (dans "
    "les activités et aux événements ayant eu lieu), événements territoriaux, webinaires, "
    "participants et part les ayant jugés utiles ; targets : chaque chiffre face à sa cible de l'année "
    "(target, gap, status ; voir docs/indicators.md). Les événements comptés sont ceux qui ont eu "
    "lieu (publiés ou clos) et commencent dans la période, selon les filtres programme, offre, "
    "département, animateur (l'organisateur) et event_type ; un événement sans département "
    "compte pour la région entière. Par type et par programme : événements, présents, "
    "réponses « utile » / réponses (useful_share null sans réponse).",
)
def report():
    errors = {}
    event_type = (request.args.get("event_type") or "").strip() or None
    if event_type is not None and len(event_type) <= 40 and not known_event_type(event_type):
        errors["event_type"] = "Type d'événement inconnu."
    try:
        args, scope = _arguments(REPORT_PARAMS)
    except ValidationFailed as error:  # every refused parameter at once
        raise ValidationFailed({**error.errors, **errors}) from error
    if errors:
        raise ValidationFailed(errors)
    figures = report_figures(scope, event_type)
    return jsonify(
        {
            "indicator": "report",
            "targets": [
                {"indicator": code, "value": goal.value, **goal.as_dict()}
                for code, goal in report_goals(scope, figures, event_type).items()
            ],
            "period": {"start": iso(scope.period.start), "end": iso(scope.period.end)},
            "filters": _filters(scope, args),
            "figures": {
                "structures_accompanied": figures.accompanied.numerator,
                "medico_social": _ratio(figures.medico_social),
                "other_offers": _ratio(figures.other_offers),
                "territorial_events": figures.territorial_events,
                "webinars": figures.webinars,
                "webinar_participants": figures.webinar_participants,
                "webinar_useful": _ratio(figures.useful),
                "events_by_type": [_event_group(g, "type") for g in events_by_type(scope, event_type)],
                "events_by_programme": [_event_group(g, "programme") for g in events_by_programme(scope, event_type)],
            },
            "freshness": freshness(),
        }
    )
