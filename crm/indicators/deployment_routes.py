"""The services view of the dashboard (deployment and active usage per offer and department, map and table,
exports) and the targeting list ("structures éligibles non équipées"), on the indicators' blueprint."""

from __future__ import annotations

from functools import partial

from flask import abort, render_template, request, url_for

from crm.deployment import targeting
from crm.deployment.services import offer_by_code
from crm.indicators import charts
from crm.indicators.deployment import offer_figures, offers_followed, parse_month
from crm.indicators.routes import bp, reader_required
from crm.networks.services import equipped_partners
from crm.platform.exports import FORMATS, ExportTable, Percent, export_response
from crm.platform.formatting import format_percent
from crm.referential.services import departments_for_select, region_department_codes


def _offer():
    offers = offers_followed()
    code = (request.args.get("offre") or "").strip()[:60]
    offer = offer_by_code(code) if code else (offers[0] if offers else None)
    if offer is None or not offer.active:
        abort(404)
    return offer, offers


def _department() -> str | None:
    code = (request.args.get("departement") or "").strip().upper()[:3]
    return code if code in region_department_codes() else None


def _month():
    raw = request.args.get("mois")
    return parse_month(raw) if raw else None


@bp.route("/tableau-de-bord/services")
@reader_required
def services_view():
    offer, offers = _offer()
    figures = offer_figures(offer, _month())
    map_svg = charts.choropleth_map(
        {r.code: r.deployment_rate for r in figures.rows},
        codes=[r.code for r in figures.rows],
        title=f"Taux de déploiement de {offer.label} par département",
        value_label=format_percent,
        link_for=lambda code: url_for("indicators.service_targets", offre=offer.code, departement=code),
    )
    return render_template("indicators/services.html", offer=offer, offers=offers, figures=figures, map_svg=map_svg)


def _figures_table(offer, figures) -> ExportTable:
    rate = lambda value: None if value is None else Percent(value)  # noqa: E731
    rows = [
        (r.code, r.label, r.eligible, r.deployed, rate(r.deployment_rate), r.active, rate(r.active_rate))
        for r in figures.rows + [figures.total]
    ]
    return ExportTable(
        title=f"Déploiement et usage – {offer.label}",
        header=(
            "Département",
            "Libellé",
            "Structures éligibles",
            "Déployées ou au-delà",
            "Taux de déploiement",
            "Avec usage sur la période",
            "Taux d'usage actif",
        ),
        rows=rows,
        context=[("Offre", offer.label), ("Période d'usage", figures.period_label)],
    )


@bp.route("/tableau-de-bord/services/export.<fmt>")
@reader_required
def services_export(fmt: str):
    if fmt not in FORMATS:
        abort(404)
    offer, _offers = _offer()
    figures = offer_figures(offer, _month())
    return export_response(_figures_table(offer, figures), fmt, f"services-{offer.code.lower()}")


def _sort() -> str:
    return request.args.get("tri") if request.args.get("tri") in targeting.SORTS else "taille"


@bp.route("/tableau-de-bord/services/cibles")
@reader_required
def service_targets():
    offer, offers = _offer()
    department = _department()
    sort = _sort()
    rows, total = targeting.targets(offer, department, sort, partners=partial(equipped_partners, offer.id))
    return render_template(
        "indicators/service_targets.html",
        offer=offer,
        offers=offers,
        department=department,
        departments=departments_for_select(region_only=True),
        sort=sort,
        sorts=targeting.SORTS,
        rows=rows,
        total=total,
    )


@bp.route("/tableau-de-bord/services/cibles/export.<fmt>")
@reader_required
def service_targets_export(fmt: str):
    if fmt not in FORMATS:
        abort(404)
    offer, _offers = _offer()
    department = _department()
    sort = _sort()
    table = targeting.visit_list(offer, department, sort, partners=partial(equipped_partners, offer.id))
    return export_response(table, fmt, f"visites-{offer.code.lower()}-{department or 'region'}")
