"""Dashboards: the managers' (CPOM indicators, map, heatmap, funnel, trends), the animator's own, the
records behind each figure, and the exports of every table."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.accounts.permissions import roles_required
from crm.indicators import charts, dashboard, docs_page, drilldown, event_report, exports, goals
from crm.indicators.event_report import known_event_type
from crm.indicators.freshness import freshness
from crm.indicators.queries import INDICATORS, Labels, engagement_programmes
from crm.indicators.report import funnel, report_figures, trends
from crm.indicators.scope import build_scope, describe
from crm.networks.services import grappe_attribution
from crm.pipeline.queries import COLUMNS, OpportunityFilters, column_counts, owner_choices
from crm.platform.errors import json_error
from crm.platform.exports import FORMATS, export_response
from crm.platform.extensions import db
from crm.platform.formatting import format_number, format_percent
from crm.platform.validation import ValidationFailed
from crm.referential.models import Programme, Sector
from crm.referential.services import departments_for_select, region_department_codes
from crm.tasks.services import open_tasks_for

bp = Blueprint("indicators", __name__)
READERS = ("animateur", "organisateur", "manager", "admin")
reader_required = roles_required(*READERS)
FILTER_ARGS = ("periode", "debut", "fin", "departement", "programme", "offre", "animateur", "secteur", "type_evenement")


def _scope(default_departments=None):
    args = request.args
    return build_scope(
        kind=args.get("periode"),
        start=args.get("debut"),
        end=args.get("fin"),
        department=args.get("departement"),
        programme=args.get("programme"),
        offer=args.get("offre"),
        animator=args.get("animateur"),
        sector=args.get("secteur"),
        default_departments=default_departments,
    )


def _event_type() -> str | None:
    """The ``type_evenement`` filter of the event figures (a type's code), refused in French when unknown."""
    code = (request.args.get("type_evenement") or "").strip() or None
    if code is not None and (len(code) > 40 or not known_event_type(code)):
        raise ValidationFailed({"type_evenement": "Type d'événement inconnu."})
    return code


def filter_params(**changes) -> dict:
    """The current filters as query arguments (what links and exports carry), with ``changes`` applied."""
    params = {k: v for k, v in request.args.items() if k in FILTER_ARGS and v}
    params.update({k: v for k, v in changes.items() if v is not None})
    return {k: v for k, v in params.items() if v != ""}


def _choices():
    return {
        "departments": departments_for_select(region_only=True),
        "programmes": list(db.session.scalars(select(Programme).order_by(Programme.number))),
        "sectors": list(db.session.scalars(select(Sector).order_by(Sector.label))),
        "animators": owner_choices(),
        "engagement_programmes": engagement_programmes,
    }


def _invalid(error: ValidationFailed, template: str = "indicators/invalid.html"):
    return render_template(template, errors=error.errors, params=request.args, **_choices()), 400


@bp.route("/tableau-de-bord")
@reader_required
def manager():
    try:
        scope = _scope()
        event_type = _event_type()
    except ValidationFailed as error:
        return _invalid(error)
    indicator = request.args.get("carte") if request.args.get("carte") in dashboard.MAP_INDICATORS else "participation"
    by_department = dashboard.department_figures(scope, indicator)
    selected = scope.departments[0] if len(scope.departments) == 1 else None
    # Targets (issue 13): each department against its target; the map shows the gap when asked ("ecart=1").
    map_goals = goals.department_goals(scope, indicator, by_department) if goals.has_targets(scope) else {}
    show_gap = request.args.get("ecart") == "1" and bool(map_goals)
    map_svg = charts.choropleth_map(
        {code: map_goals[code].gap for code in by_department}
        if show_gap
        else {code: f.rate for code, f in by_department.items()},
        codes=list(by_department),
        title=(
            f"{dashboard.MAP_INDICATORS[indicator]} : écart à la cible par département – {scope.period.label}"
            if show_gap
            else f"{dashboard.MAP_INDICATORS[indicator]} par département – {scope.period.label}"
        ),
        value_label=format_gap if show_gap else format_percent,
        selected=selected,
        link_for=lambda code: url_for(
            "indicators.manager",
            **filter_params(departement=code, carte=indicator, ecart="1" if show_gap else None),
        ),
    )
    stages, outcomes = funnel(scope)
    trend = trends(scope)
    heatmap = dashboard.engagement_heatmap(scope)
    headlines = dashboard.headlines(scope)
    report = report_figures(scope, event_type)
    # Networks (issue 14): the grappes of the period formed via a Rendez-vous ESMS numérique.
    grappes = grappe_attribution(departments=set(scope.departments), start=scope.period.start, end=scope.period.end)
    return render_template(
        "indicators/manager.html",
        grappes=grappes,
        scope=scope,
        scope_lines=describe(scope),
        indicator=indicator,
        headlines=headlines,
        goals=goals.headline_goals(scope, {h.key: h.current for h in headlines}),
        report_goals=goals.report_goals(scope, report, event_type),
        targets_year=goals.scope_year(scope),
        by_department=by_department,
        map_goals=map_goals,
        show_gap=show_gap,
        map_svg=map_svg,
        heatmap=heatmap,
        heatmap_goals=goals.heatmap_goals(scope, heatmap),
        heat_class=charts.heat_class,
        heat_legend_svg=charts.heat_legend(
            heatmap.low, heatmap.high, value_label=format_percent, title="Légende des couleurs de l'engagement"
        ),
        stages=stages,
        outcomes=outcomes,
        funnel_svg=charts.funnel_chart([(s.label, s.count, s.average_days) for s in stages]),
        trend=trend,
        trend_svg=charts.trend_chart(
            trend.months,
            [
                ("Participation", [f.rate if f else None for f in trend.participation]),
                ("Transformation", [f.rate if f else None for f in trend.transformation]),
            ],
            percent=True,
        ),
        report=report,
        event_type=event_type,
        events_by_type=event_report.events_by_type(scope, event_type),
        events_by_programme=event_report.events_by_programme(scope, event_type),
        event_types=event_report.event_type_choices(),
        freshness=freshness(),
        params=filter_params(),
        params_without_place={k: v for k, v in filter_params().items() if k not in ("programme", "departement")},
        params_without_programme={k: v for k, v in filter_params().items() if k != "programme"},
        **_choices(),
    )


@bp.route("/mon-tableau-de-bord")
@roles_required("animateur")
def animator():
    """My departments' figures, my pipeline, my tasks."""
    mine = tuple(current_user.department_codes) or tuple(region_department_codes())
    try:
        scope = _scope(default_departments=mine)
    except ValidationFailed as error:
        return _invalid(error)
    pipeline = column_counts(OpportunityFilters(owner=current_user.id))
    headlines = dashboard.headlines(scope)
    return render_template(
        "indicators/animator.html",
        scope=scope,
        scope_lines=describe(scope),
        headlines=headlines,
        goals=goals.headline_goals(scope, {h.key: h.current for h in headlines}),
        department_goals=_department_goals(scope),
        targets_year=goals.scope_year(scope),
        my_headlines=dashboard.headlines(scope.__class__(scope.period, scope.departments, animator_id=current_user.id)),
        pipeline=[(key, label, pipeline.get(key, 0)) for key, label, _ in COLUMNS],
        tasks=open_tasks_for(current_user.id),
        freshness=freshness(),
        params=filter_params(),
        **_choices(),
    )


def format_gap(value: float | None) -> str:
    """A gap in points: "+3,5 pt", "−12 pt" ("—" without a target)."""
    if value is None:
        return "—"
    return (
        ("+" if value >= 0 else "−")
        + format_number(abs(value), 0 if abs(value) == round(abs(value)) else 1)
        + ("\u00a0pt")
    )


def _department_goals(scope) -> list[tuple[str, str, dict]]:
    """The animator's departments, each with its three rates against their targets."""
    if not goals.has_targets(scope):
        return []
    labels = indicator_labels()
    by_indicator = {
        key: goals.department_goals(scope, key, dashboard.department_figures(scope, key))
        for key in dashboard.MAP_INDICATORS
    }
    return [
        (code, labels.of("department", code), {key: by_indicator[key].get(code) for key in dashboard.MAP_INDICATORS})
        for code in scope.departments
    ]


@bp.route("/tableau-de-bord/donnees.json")
@reader_required
def figures_json():
    """The headline figures and their freshness, polled by the dashboard to move without a reload."""
    try:
        scope = _scope(
            default_departments=tuple(current_user.department_codes)
            if request.args.get("mes") == "1" and current_user.department_codes
            else None
        )
    except ValidationFailed as error:
        return json_error(422, "Filtres invalides.", error.errors)
    fresh = freshness()
    return jsonify(
        {
            "freshness": {"text": fresh.text, "age_seconds": fresh.age_seconds, "pending_events": fresh.pending},
            "figures": {
                h.key: {
                    "numerator": h.current.numerator,
                    "denominator": h.current.denominator,
                    "rate": h.current.rate,
                    "text": format_percent(h.current.rate),
                }
                for h in dashboard.headlines(scope)
            },
        }
    )


@bp.route("/indicateurs/<any(participation, transformation, engagement):indicator>/detail")
@reader_required
def detail(indicator: str):
    """The records behind a figure."""
    try:
        scope = _scope()
    except ValidationFailed as error:
        return _invalid(error)
    programme = None
    if indicator == "participation":
        found = drilldown.participation_detail(scope)
    elif indicator == "transformation":
        found = drilldown.transformation_detail(scope)
    else:
        programme = db.session.get(Programme, scope.programme_id) if scope.programme_id else None
        if programme is None:
            return render_template(
                "indicators/choose_programme.html",
                scope=scope,
                scope_lines=describe(scope),
                params=filter_params(),
                **_choices(),
            )
        found = drilldown.engagement_detail(scope, programme)
    figure = {
        "participation": lambda: INDICATORS["participation"][1](scope)[0],
        "transformation": lambda: INDICATORS["transformation"][1](scope)[0],
        "engagement": lambda: INDICATORS["engagement"][1](scope)[0],
    }[indicator]()
    return render_template(
        f"indicators/detail_{indicator}.html",
        scope=scope,
        scope_lines=describe(scope),
        detail=found,
        figure=figure,
        programme=programme,
        params=filter_params(),
        title=INDICATORS[indicator][0],
        indicator=indicator,
    )


@bp.route("/indicateurs/definitions")
@reader_required
def definitions_page():
    """docs/indicators.md, the one written definition of each indicator (the "?" beside each rate)."""
    return render_template("indicators/definitions.html", body=docs_page.html())


@bp.route("/indicateurs/export/<name>.<fmt>")
@reader_required
def export(name: str, fmt: str):
    if fmt not in FORMATS or name not in exports.TABLES:
        abort(404)
    try:
        scope = _scope()
        _event_type()
    except ValidationFailed as error:
        return _invalid(error)
    table = exports.TABLES[name](scope, request.args)
    return export_response(table, fmt, f"{name}-{scope.period.start:%Y%m%d}-{scope.period.end:%Y%m%d}")


@bp.app_template_global()
def indicator_labels() -> Labels:
    return Labels()
