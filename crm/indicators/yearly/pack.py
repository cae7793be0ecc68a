"""The yearly pack's content: each section a table (the year, the year before, the targets when there are
some), read from the indicator queries the dashboards and the API read (nothing is recomputed here).

The XLSX workbook (:mod:`.xlsx`), the PDF report (:mod:`.pdf`) and the page lay out the same :class:`Pack`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from flask import current_app
from markupsafe import Markup

from crm.indicators import charts, dashboard, event_report
from crm.indicators.definitions import LABELS, formula
from crm.indicators.periods import Period, year
from crm.indicators.queries import Figure, Labels, Scope, engagement, information_participation, transformation_rate
from crm.indicators.report import accompanied_by_sector, funnel, report_figures, trends
from crm.indicators.scope import describe
from crm.indicators.yearly.notes import notes_for
from crm.networks.services import grappe_attribution
from crm.platform.formatting import format_number, format_percent
from crm.referential.services import region_department_codes
from crm.targets.services import target_values

INDICATORS = ("participation", "transformation", "engagement")
SECTIONS = {
    "departements": "Indicateurs CPOM par département",
    "programmes": "Indicateurs CPOM par programme",
    "rapport": "Chiffres du rapport d'activité",
    "evenements-types": "Événements par type",
    "evenements-programmes": "Événements par programme",
    "entonnoir": "Entonnoir des opportunités",
    "secteurs": "Structures accompagnées par secteur",
}


@dataclass(frozen=True)
class Column:
    label: str
    kind: str  # "text", "count", "rate" (a share, 0.25 = 25 %), "points" (a difference of rates, in points),
    # "days", or "mixed" (each cell a Value saying its own kind: the targets of the report's figures)


@dataclass(frozen=True)
class Value:
    number: float | int | None
    kind: str


@dataclass
class Section:
    key: str
    title: str
    columns: list[Column]
    rows: list[list] = field(default_factory=list)
    note: str = ""
    charts: list[tuple[str, Markup]] = field(default_factory=list)  # (caption, svg)


@dataclass
class Pack:
    year: int
    department: str | None
    organisation: str
    context: list[tuple[str, str]]
    sections: list[Section]
    definitions: list[tuple[str, str]]
    has_targets: bool

    @property
    def title(self) -> str:
        where = f" – {self.context[1][1]}" if self.department else ""
        return f"Bilan annuel {self.year}{where}"

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


def _targets(year_number: int, department: str | None) -> dict[tuple[str, str | None, int | None], Decimal]:
    """The targets of the yearly objectives note: (indicator, department or None, programme or None) -> value
    (rates in %, counts in units); empty when none was entered for the year."""
    return target_values(year_number, department) if department else target_values(year_number)


class _Targets:
    """Looks a target up and says the gap, in the figure's own unit (a rate target is stored in %)."""

    def __init__(self, values: dict):
        self.values = values

    def get(self, indicator: str, department: str | None, programme: int | None, kind: str) -> float | None:
        value = self.values.get((indicator, department, programme))
        if value is None:
            return None
        return float(value) / 100 if kind == "rate" else float(value)

    def columns(self, kind: str, year_number: int) -> list[Column]:
        if not self.values:
            return []
        return [Column(f"Cible {year_number}", kind), Column("Écart à la cible", "points" if kind == "rate" else kind)]

    def cells(self, target: float | None, value: float | None, kind: str) -> list:
        if not self.values:
            return []
        return [target, _gap(value, target, kind)]


def _gap(value, reference, kind: str):
    if value is None or reference is None:
        return None
    return round((value - reference) * 100, 1) if kind in ("rate", "points") else value - reference


def _rate_row(label: list, current: Figure | None, previous: Figure | None, targets: _Targets, key) -> list:
    rate, before = current.rate if current else None, previous.rate if previous else None
    return [
        *label,
        current.numerator if current else 0,
        current.denominator if current else 0,
        rate,
        before,
        _gap(rate, before, "rate"),
        *targets.cells(targets.get(*key, "rate"), rate, "rate"),
    ]


def _rate_columns(first: list[Column], y: int, targets: _Targets) -> list[Column]:
    return [
        *first,
        Column(f"Numérateur {y}", "count"),
        Column(f"Dénominateur {y}", "count"),
        Column(f"Taux {y}", "rate"),
        Column(f"Taux {y - 1}", "rate"),
        Column(f"Évolution depuis {y - 1}", "points"),
        *targets.columns("rate", y),
    ]


def _by_department(scope: Scope, previous: Scope, department: str | None, targets: _Targets) -> Section:
    y = scope.period.start.year
    section = Section(
        "departements",
        SECTIONS["departements"],
        _rate_columns([Column("Indicateur", "text")] + [Column("Département", "text")], y, targets),
    )
    labels = Labels()
    totals, totals_before = dashboard.headline_figures(scope), dashboard.headline_figures(previous)
    for indicator in INDICATORS:
        now, before = dashboard.department_figures(scope, indicator), dashboard.department_figures(previous, indicator)
        for code in scope.departments:
            name = f"{code} – {labels.of('department', code)}"
            row = _rate_row(
                [LABELS[indicator], name], now.get(code), before.get(code), targets, (indicator, code, None)
            )
            section.rows.append(row)
        if not department:
            section.rows.append(
                _rate_row(
                    [LABELS[indicator], "Région"],
                    totals[indicator],
                    totals_before[indicator],
                    targets,
                    (indicator, None, None),
                )
            )
    map_now = dashboard.department_figures(scope, "participation")
    section.charts.append(
        (
            f"Participation par département – {y}",
            charts.choropleth_map(
                {code: f.rate for code, f in map_now.items()},
                codes=list(map_now),
                title=f"{LABELS['participation']} par département – {y}",
                value_label=format_percent,
                selected=department,
            ),
        )
    )
    trend = trends(scope)
    section.charts.append(
        (
            f"Évolution mensuelle – {y}",
            charts.trend_chart(
                trend.months,
                [
                    ("Participation", [f.rate if f else None for f in trend.participation]),
                    ("Transformation", [f.rate if f else None for f in trend.transformation]),
                ],
                percent=True,
            ),
        )
    )
    return section


def _by_programme(scope: Scope, previous: Scope, department: str | None, targets: _Targets) -> Section:
    y = scope.period.start.year
    section = Section(
        "programmes",
        SECTIONS["programmes"],
        _rate_columns([Column("Indicateur", "text")] + [Column("Programme", "text")], y, targets),
    )
    compute = {
        "participation": lambda s: information_participation(s, "programme"),
        "transformation": lambda s: transformation_rate(s, "programme"),
        "engagement": engagement,
    }
    for indicator in INDICATORS:
        now = {f.key[0]: f for f in compute[indicator](scope)}
        before = {f.key[0]: f for f in compute[indicator](previous)}
        for programme_id in list(now) + [k for k in before if k not in now]:
            figure = now.get(programme_id) or before[programme_id]
            key = (indicator, department, programme_id)  # 0, no programme: no target
            section.rows.append(
                _rate_row(
                    [LABELS[indicator], figure.label], now.get(programme_id), before.get(programme_id), targets, key
                )
            )
    return section


REPORT_ROWS = (  # label, target code, the figure's attribute, what the target compares with
    ("Structures accompagnées", "structures_accompanied", "accompanied", "count"),
    ("dont médico-sociales", "medico_social", "medico_social", "rate"),
    ("Offres présentées hors coordination", "other_offers", "other_offers", "rate"),
    ("Événements territoriaux organisés", "territorial_events", "territorial_events", "count"),
    ("Webinaires", "webinars", "webinars", "count"),
    ("Participants aux webinaires", "webinar_participants", "webinar_participants", "count"),
    ("Participants ayant trouvé le webinaire utile", "webinar_useful", "useful", "rate"),
)


def _report(scope: Scope, previous: Scope, department: str | None, targets: _Targets) -> Section:
    y = scope.period.start.year
    columns = [
        Column("Chiffre", "text"),
        Column(f"Valeur {y}", "count"),
        Column(f"Sur {y}", "count"),
        Column(f"Part {y}", "rate"),
        Column(f"Valeur {y - 1}", "count"),
        Column(f"Part {y - 1}", "rate"),
    ]
    if targets.values:
        columns += [Column(f"Cible {y}", "mixed"), Column("Écart à la cible", "mixed")]
    section = Section("rapport", SECTIONS["rapport"], columns)
    now, before = report_figures(scope), report_figures(previous)
    for label, code, attribute, kind in REPORT_ROWS:
        a, b = getattr(now, attribute), getattr(before, attribute)
        shared = isinstance(a, Figure) and kind == "rate"
        row = [
            label,
            a.numerator if isinstance(a, Figure) else a,
            a.denominator if shared else None,
            a.rate if shared else None,
            b.numerator if isinstance(b, Figure) else b,
            b.rate if shared else None,
        ]
        if targets.values:
            value = row[3] if kind == "rate" else row[1]
            target = targets.get(code, department, None, kind)
            row += [Value(target, kind), Value(_gap(value, target, kind), "points" if kind == "rate" else kind)]
        section.rows.append(row)
    # Networks (issue 14): the grappes created in the year, and those formed via a Rendez-vous ESMS numérique.
    grappes_now, grappes_before = (
        grappe_attribution(departments=set(one.departments), start=one.period.start, end=one.period.end)
        for one in (scope, previous)
    )
    row = [
        "Grappes formées via un Rendez-vous ESMS numérique",
        grappes_now.via_rendez_vous,
        grappes_now.total,
        grappes_now.share,
        grappes_before.via_rendez_vous,
        grappes_before.share,
    ]
    if targets.values:
        row += [Value(None, "rate"), Value(None, "points")]
    section.rows.append(row)
    return section


def _events(key: str, compute, first: str, scope: Scope, previous: Scope) -> Section:
    y = scope.period.start.year
    section = Section(
        key,
        SECTIONS[key],
        [
            Column(first, "text"),
            Column(f"Événements {y}", "count"),
            Column(f"Participants présents {y}", "count"),
            Column(f"Réponses {y}", "count"),
            Column(f"Réponses « utile » {y}", "count"),
            Column(f"Part « utile » {y}", "rate"),
            Column(f"Événements {y - 1}", "count"),
            Column(f"Participants présents {y - 1}", "count"),
            Column(f"Part « utile » {y - 1}", "rate"),
        ],
    )
    now, before = compute(scope), {g.key: g for g in compute(previous)}
    keys = [g.key for g in now] + [k for k in before if k not in {g.key for g in now}]
    current = {g.key: g for g in now}
    for k in keys:
        g, b = current.get(k), before.get(k)
        label = (g or b).label
        section.rows.append(
            [
                label,
                g.events if g else 0,
                g.present if g else 0,
                g.answers if g else 0,
                g.useful if g else 0,
                g.useful_share if g else None,
                b.events if b else 0,
                b.present if b else 0,
                b.useful_share if b else None,
            ]
        )
    return section


def _funnel(scope: Scope, previous: Scope) -> Section:
    y = scope.period.start.year
    section = Section(
        "entonnoir",
        SECTIONS["entonnoir"],
        [
            Column("Étape", "text"),
            Column(f"Opportunités {y}", "count"),
            Column(f"Jours passés en moyenne {y}", "days"),
            Column(f"Opportunités {y - 1}", "count"),
            Column(f"Jours passés en moyenne {y - 1}", "days"),
        ],
    )
    (stages, outcomes), (stages_before, outcomes_before) = funnel(scope), funnel(previous)
    for s, b in zip(stages, stages_before):
        section.rows.append([s.label, s.count, s.average_days, b.count, b.average_days])
    for key, label in (("perdue", "Perdues"), ("abandonnee", "Abandonnées"), ("transformed", "Devenues projet")):
        section.rows.append([label, outcomes[key], None, outcomes_before[key], None])
    section.charts.append(
        (f"Entonnoir des opportunités – {y}", charts.funnel_chart([(s.label, s.count, s.average_days) for s in stages]))
    )
    return section


def _sectors(scope: Scope, previous: Scope) -> Section:
    y = scope.period.start.year
    section = Section(
        "secteurs",
        SECTIONS["secteurs"],
        [
            Column("Secteur", "text"),
            Column(f"Structures accompagnées {y}", "count"),
            Column(f"Part {y}", "rate"),
            Column(f"Structures accompagnées {y - 1}", "count"),
            Column(f"Part {y - 1}", "rate"),
        ],
    )
    now, before = accompanied_by_sector(scope), accompanied_by_sector(previous)
    total, total_before = sum(now.values()), sum(before.values())
    labels = Labels()
    for code in sorted(set(now) | set(before), key=lambda c: labels.of("sector", c)):
        section.rows.append(
            [
                labels.of("sector", code),
                now.get(code, 0),
                now.get(code, 0) / total if total else None,
                before.get(code, 0),
                before.get(code, 0) / total_before if total_before else None,
            ]
        )
    section.rows.append(["Ensemble", total, 1.0 if total else None, total_before, 1.0 if total_before else None])
    return section


def display(value, kind: str) -> str:
    """A cell as the page and the PDF write it, the French way ("12,5 %", "+3,0 pt", "—" for no data)."""
    if isinstance(value, Value):
        value, kind = value.number, value.kind
    if value is None:
        return "—"
    if kind == "rate":
        return format_percent(value, 1)
    if kind == "points":
        return ("+" if value > 0 else "") + format_number(value, 1) + " pt"
    if kind == "days":
        return format_number(value, 1)
    if kind == "count":
        return format_number(value)
    return str(value)


def definitions(scope: Scope, has_targets: bool) -> list[tuple[str, str]]:
    """What each figure counts (docs/indicators.md in short), for the "Définitions" sheet and the PDF's end."""
    lines = [(LABELS[key], formula(key, scope)) for key in INDICATORS]
    lines += [
        ("Taux", "numérateur / dénominateur ; vide (ou « — ») quand le dénominateur est nul : pas de données."),
        ("Évolution", "écart en points de pourcentage entre le taux de l'année et celui de l'année précédente."),
        ("Structures accompagnées", "structures ayant un projet en cours pendant l'année (dont médico-sociales)."),
        (
            "Offres présentées hors coordination",
            "offres présentées (activités et événements) hors programme Coordination / offres présentées.",
        ),
        (
            "Événements",
            "événements publiés ou clos commençant dans l'année ; un événement sans département "
            "compte pour la région entière.",
        ),
        ("Part « utile »", "réponses « utile » au questionnaire de satisfaction / réponses."),
        (
            "Entonnoir",
            "opportunités identifiées dans l'année, par étape atteinte ; jours passés en moyenne "
            "dans l'étape par celles qui l'ont quittée.",
        ),
        ("Source", "docs/indicators.md, servi sur la page /indicateurs/definitions de l'application."),
    ]
    if has_targets:
        lines.append(
            (
                "Cible et écart",
                "cible de la note d'objectifs annuelle ; écart = valeur − cible (en points "
                "pour un taux, en unités pour un nombre).",
            )
        )
    return lines


def build_pack(year_number: int, department: str | None, *, with_charts: bool = True) -> Pack:
    """The pack of ``year_number`` for the region (``department`` None) or one department, already validated
    (see :func:`crm.indicators.yearly.service.pack_scope`)."""
    period: Period = year(year_number)
    departments = (department,) if department else tuple(region_department_codes())
    scope = Scope(period, departments)
    previous = scope.with_period(period.previous())
    targets = _Targets(_targets(year_number, department))
    sections = [
        _by_department(scope, previous, department, targets),
        _by_programme(scope, previous, department, targets),
        _report(scope, previous, department, targets),
        _events("evenements-types", event_report.events_by_type, "Type d'événement", scope, previous),
        _events("evenements-programmes", event_report.events_by_programme, "Programme", scope, previous),
        _funnel(scope, previous),
        _sectors(scope, previous),
    ]
    notes = notes_for(year_number, department)
    for section in sections:
        section.note = notes.get(section.key, "")
        if not with_charts:
            section.charts = []
    context = describe(scope) + [("Comparaison", f"année {year_number - 1}")]
    if targets.values:
        context.append(("Cibles", f"note d'objectifs {year_number}"))
    return Pack(
        year=year_number,
        department=department,
        organisation=current_app.config["CRM_ORGANISATION_NAME"],
        context=context,
        sections=sections,
        definitions=definitions(scope, bool(targets.values)),
        has_targets=bool(targets.values),
    )
