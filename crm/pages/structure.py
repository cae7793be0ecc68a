"""The structure page's 360° view: its record and history, activities, follow-ups, opportunities, projects
and engagements.

It gathers every domain that builds on structures, so it lives above them; the view keeps its place
on the structures blueprint (endpoint ``structures.show``, URL /structures/<id>).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import case, select
from sqlalchemy.orm import lazyload

from crm.activities import services as activity_services
from crm.deployment import services as deployment_services
from crm.deployment.forms import ELIGIBILITY_CHOICES, EligibilityForm, ServiceStatusForm
from crm.networks import routes as network_routes
from crm.pipeline import services as pipeline_services
from crm.pipeline.models import ENGAGED_STATUSES, OPEN_STAGES, Opportunity, Project
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed, as_id
from crm.referential.models import Offer
from crm.structures.forms import ConfirmForm
from crm.structures.history import structure_history
from crm.structures.routes import bp, structure_or_404
from crm.tasks import services as task_services

TIMELINE_LIMIT = 50
LIST_LIMIT = 50


@dataclass
class StructureOverview:
    timeline: list
    activity_count: int
    tasks: list
    opportunities: list
    engagements: list
    other_projects: list


def structure_overview(structure_id: int) -> StructureOverview:
    """Everything under way with a structure, each list bounded so the page stays fast at any scale."""
    timeline = activity_services.structure_timeline(structure_id, limit=TIMELINE_LIMIT)
    count = (
        len(timeline) if len(timeline) < TIMELINE_LIMIT else activity_services.count_structure_activities(structure_id)
    )
    opportunities = db.session.scalars(
        # The structure is the page's own, already in the session: no need to join it again.
        select(Opportunity)
        .where(Opportunity.structure_id == structure_id)
        .options(lazyload(Opportunity.structure))
        .order_by(
            case((Opportunity.stage.in_(OPEN_STAGES), 0), else_=1),
            Opportunity.stage_changed_at.desc(),
            Opportunity.id.desc(),
        )
        .limit(LIST_LIMIT)
    ).all()
    # Suspended projects do not make an engagement, but the page still shows them.
    other_projects = db.session.scalars(
        select(Project)
        .where(Project.structure_id == structure_id, Project.status.not_in(ENGAGED_STATUSES))
        .options(lazyload(Project.structure))
        .order_by(Project.started_on.desc(), Project.id.desc())
        .limit(LIST_LIMIT)
    ).all()
    return StructureOverview(
        timeline=timeline,
        activity_count=count,
        tasks=task_services.open_tasks_of_structure(structure_id),
        opportunities=list(opportunities),
        engagements=pipeline_services.engagements(structure_id),
        other_projects=list(other_projects),
    )


@bp.route("/<int:structure_id>")
@login_required
def show(structure_id: int):
    structure = structure_or_404(structure_id)
    return render_template(
        "structures/show.html",
        structure=structure,
        history=structure_history(structure.id),
        overview=structure_overview(structure.id),
        today=local_today(),
        confirm=ConfirmForm(),
        **network_routes.structure_section(structure),  # the networks' section (issue 14)
        services=deployment_services.structure_services(structure),
        service_form=_service_form(),
        eligibility_form=_eligibility_form(),
        overrides=deployment_services.overrides_of(structure.id),
    )


def _eligibility_form() -> EligibilityForm:
    form = EligibilityForm()
    form.choice.choices = ELIGIBILITY_CHOICES
    form.offer_id.choices = [("", "—")] + [(str(o.id), o.label) for o in deployment_services.active_offers()]
    return form


@bp.route("/<int:structure_id>/services/eligibilite", methods=["POST"])
@login_required
def set_service_eligibility(structure_id: int):
    """Add the structure to an offer's eligible population by hand, exclude it, or go back to the rule."""
    structure = structure_or_404(structure_id)
    if not deployment_services.can_set_status(current_user, structure):
        abort(403)
    form = _eligibility_form()
    offer = db.session.get(Offer, as_id(form.offer_id.data) or 0) if form.validate_on_submit() else None
    choice = {"regle": None, "ajoutee": True, "exclue": False}
    if offer is None or form.choice.data not in choice:
        flash("Choisissez un service et une éligibilité de la liste.", "error")
    else:
        deployment_services.set_override(structure, offer, choice[form.choice.data], user=current_user)
        flash("Éligibilité enregistrée.", "success")
    return redirect(url_for("structures.show", structure_id=structure.id) + "#services")


def _service_form() -> ServiceStatusForm:
    form = ServiceStatusForm()
    form.offer_id.choices = [("", "—")] + [(str(o.id), o.label) for o in deployment_services.active_offers()]
    form.status.choices = deployment_services.status_choices()
    return form


@bp.route("/<int:structure_id>/services", methods=["POST"])
@login_required
def set_service_status(structure_id: int):
    """An animator sets the status of an offer in the structure (the page's "Services numériques")."""
    structure = structure_or_404(structure_id)
    if not deployment_services.can_set_status(current_user, structure):
        abort(403)
    form = _service_form()
    if not form.validate_on_submit():
        flash("Le formulaire a expiré : rechargez la page et recommencez.", "error")
        return redirect(url_for("structures.show", structure_id=structure.id) + "#services")
    try:
        changed = deployment_services.set_status_by_hand(
            structure, as_id(form.offer_id.data) or 0, form.status.data or "", user=current_user
        )
    except ValidationFailed as error:
        flash(" ".join(error.errors.values()), "error")
    else:
        flash("Statut du service enregistré." if changed else "Statut inchangé.", "success")
    return redirect(url_for("structures.show", structure_id=structure.id) + "#services")
