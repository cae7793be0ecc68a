"""Every indicator table of the dashboards as a file (CSV or XLSX), with its period and filters in it."""

from __future__ import annotations

from crm.indicators import dashboard, event_report, goals
from crm.indicators.queries import INDICATORS, Scope
from crm.indicators.report import funnel, report_figures, trends
from crm.indicators.scope import describe
from crm.platform.exports import ExportTable, Percent

HEADER = ("Clé", "Libellé", "Numérateur", "Dénominateur", "Taux")
# Targets area (issue 13): every rate's table carries its target (in %) and the gap (in points).
TARGET_HEADER = ("Cible (%)", "Écart (points)", "Lecture")
TARGET_CONTEXT = ("Cible", "cible de l'année en % ; écart = taux − cible, en points (docs/indicators.md)")


def _goal_cells(goal) -> tuple:
    if goal is None or goal.target is None:
        return (None, None, None)
    return (goal.target, goal.gap, goal.status_label)


GROUP_LABELS = {
    "department": "département",
    "programme": "programme",
    "offer": "offre",
    "animator": "animateur",
    "sector": "secteur",
    "month": "mois",
}


def _share(value):
    """A rate as the export writes it: a percentage in XLSX, the fraction in CSV (None: no data)."""
    return None if value is None else Percent(round(value, 4))


def _rate(figure):
    return _share(figure.rate)


def _indicator(name: str):
    title, compute, groups = INDICATORS[name]

    def table(scope: Scope, args) -> ExportTable:
        group_by = args.get("par") if args.get("par") in groups else None
        if name == "engagement":
            names = ("programme",) + ((group_by,) if group_by in ("department", "sector") else ())
        else:
            names = (group_by,) if group_by else ()
        found = goals.goals_for(scope)
        rows = [
            (" / ".join(str(k) for k in f.key), f.label, f.numerator, f.denominator, _rate(f))
            + _goal_cells(goals.row_goal(found, scope, name, names, f))
            for f in compute(scope, group_by)
        ]
        context = describe(scope) + [
            ("Ventilation", GROUP_LABELS.get(group_by, "ensemble")),
            ("Taux", "vide = pas de données (dénominateur nul)"),
            TARGET_CONTEXT,
        ]
        return ExportTable(title=title, header=HEADER + TARGET_HEADER, rows=rows, context=context)

    return table


def _map(scope: Scope, args) -> ExportTable:
    indicator = args.get("carte") if args.get("carte") in dashboard.MAP_INDICATORS else "participation"
    figures = dashboard.department_figures(scope, indicator)
    read = goals.department_goals(scope, indicator, figures)
    rows = [
        (code, f.label, f.numerator, f.denominator, _rate(f)) + _goal_cells(read.get(code))
        for code, f in figures.items()
    ]
    return ExportTable(
        title=f"{dashboard.MAP_INDICATORS[indicator]} par département",
        header=HEADER + TARGET_HEADER,
        rows=rows,
        context=describe(scope) + [TARGET_CONTEXT],
    )


def _heatmap(scope: Scope, args) -> ExportTable:
    heat = dashboard.engagement_heatmap(scope)
    found = goals.goals_for(scope)
    rows = []
    for programme_id, label in heat.programmes:
        for code, name in heat.departments:
            f = heat.cells.get((programme_id, code))
            if f is not None:
                target = found.target(scope, "engagement", departments=(code,), programme_id=programme_id)
                goal = found.read(scope, "engagement", f, target)
                rows.append((label, f"{code} – {name}", f.numerator, f.denominator, _rate(f)) + _goal_cells(goal))
    return ExportTable(
        title="Engagement par programme et département",
        header=("Programme", "Département", "Structures engagées", "Population cible", "Taux") + TARGET_HEADER,
        rows=rows,
        context=describe(scope) + [TARGET_CONTEXT],
    )


def _funnel(scope: Scope, args) -> ExportTable:
    stages, outcomes = funnel(scope)
    rows = [(s.label, s.count, None if s.average_days is None else round(s.average_days, 1)) for s in stages]
    rows += [
        ("Perdues", outcomes["perdue"], None),
        ("Abandonnées", outcomes["abandonnee"], None),
        ("Devenues projet", outcomes["transformed"], None),
    ]
    return ExportTable(
        title="Entonnoir des opportunités",
        header=("Étape", "Opportunités", "Jours passés en moyenne"),
        rows=rows,
        context=describe(scope),
    )


def _trends(scope: Scope, args) -> ExportTable:
    trend = trends(scope)
    rows = []
    for i, label in enumerate(trend.months):
        p, t = trend.participation[i], trend.transformation[i]
        rows.append(
            (
                label,
                p.numerator if p else 0,
                p.denominator if p else 0,
                _rate(p) if p else None,
                t.numerator if t else 0,
                t.denominator if t else 0,
                _rate(t) if t else None,
                trend.engaged[i],
            )
        )
    return ExportTable(
        title="Évolution mensuelle",
        header=(
            "Mois",
            "Structures participantes",
            "Structures ES/ESMS",
            "Participation",
            "Opportunités devenues projet",
            "Opportunités identifiées",
            "Transformation",
            "Structures engagées (cumul)",
        ),
        rows=rows,
        context=describe(scope),
    )


def _event_type_context(args) -> tuple[str | None, list[tuple[str, str]]]:
    """The ``type_evenement`` filter (validated by the route) and its line in the export's context."""
    event_type = (args.get("type_evenement") or "").strip() or None
    label = dict(event_report.event_type_choices()).get(event_type, "tous")
    return event_type, [("Type d'événement", label), ("Événements", "publiés ou clos, commençant dans la période")]


def _report(scope: Scope, args) -> ExportTable:
    event_type, event_context = _event_type_context(args)
    r = report_figures(scope, event_type)
    read = goals.report_goals(scope, r, event_type)
    rows = [
        ("Structures accompagnées", r.accompanied.numerator, None, None),
        ("dont médico-sociales", r.medico_social.numerator, r.medico_social.denominator, _rate(r.medico_social)),
        (
            "Offres présentées hors coordination",
            r.other_offers.numerator,
            r.other_offers.denominator,
            _rate(r.other_offers),
        ),
        ("Événements territoriaux organisés", r.territorial_events, None, None),
        ("Webinaires", r.webinars, None, None),
        ("Participants aux webinaires", r.webinar_participants, None, None),
        ("Participants ayant trouvé le webinaire utile", r.useful.numerator, r.useful.denominator, _rate(r.useful)),
    ]
    rows = [row + _goal_cells(read.get(code)) for row, code in zip(rows, goals.REPORT_CODES)]
    return ExportTable(
        title="Chiffres du rapport d'activité",
        header=("Chiffre", "Valeur", "Sur", "Part", "Cible", "Écart", "Lecture"),
        rows=rows,
        context=describe(scope)
        + event_context
        + [
            (
                "Cible",
                "cible de l'année : les parts en %, écart en points ; les nombres en unités, écart à la cible "
                "au prorata des jours écoulés (docs/indicators.md)",
            )
        ],
    )


def _event_groups(compute, title: str, first: str):
    def table(scope: Scope, args) -> ExportTable:
        event_type, event_context = _event_type_context(args)
        rows = [
            (
                row.label,
                row.events,
                row.present,
                row.useful,
                row.answers,
                _share(row.useful_share),
            )
            for row in compute(scope, event_type)
        ]
        context = describe(scope) + event_context + [("Part « utile »", "vide = pas de réponse")]
        return ExportTable(
            title=title,
            header=(first, "Événements", "Participants présents", "Réponses « utile »", "Réponses", "Part « utile »"),
            rows=rows,
            context=context,
        )

    return table


TABLES = {
    "participation": _indicator("participation"),
    "transformation": _indicator("transformation"),
    "engagement": _indicator("engagement"),
    "carte": _map,
    "engagement-programmes-departements": _heatmap,
    "entonnoir": _funnel,
    "evolution": _trends,
    "rapport": _report,
    "evenements-types": _event_groups(event_report.events_by_type, "Événements par type", "Type d'événement"),
    "evenements-programmes": _event_groups(event_report.events_by_programme, "Événements par programme", "Programme"),
}
