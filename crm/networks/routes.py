"""The networks pages: référents per offer and department (and the communities' figures), grappes and their
applications, the mesh strategy with the partner links' import, the invitation of an offer's référents to an
event. Every route checks the role on the server; refused input comes back as a French message."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from crm.accounts.permissions import roles_required
from crm.events.models import Event
from crm.networks import services
from crm.networks.models import (
    APPLICATION_PROGRAMMES,
    APPLICATION_STATUSES,
    APPLICATION_TRANSITIONS,
    GRAPPE_STATUSES,
    Grappe,
    ProgrammeApplication,
    Referent,
    StructureLink,
)
from crm.platform.exports import FORMATS, export_response
from crm.platform.extensions import db
from crm.platform.forms import Form
from crm.platform.validation import ValidationFailed, as_id
from crm.referential.models import Offer
from crm.referential.services import department_choices, known_department
from crm.structures.models import Structure

bp = Blueprint("networks", __name__, url_prefix="/reseaux")
reader_required = roles_required(*services.READ_ROLES)


class CsrfForm(Form):
    """The CSRF token of the networks' forms (their fields are read from the request)."""


def _offers() -> list[Offer]:
    return list(db.session.scalars(select(Offer).where(Offer.active.is_(True)).order_by(Offer.label)))


def _filters() -> tuple[int | None, str | None]:
    offer_id = as_id(request.args.get("offre"))
    department = (request.args.get("departement") or "").strip().upper() or None
    if department and not known_department(department):
        department = None
    return offer_id, department


def _require_writer() -> None:
    """Writes are the animators' (in their departments, checked by the services) and the admins'."""
    if not services.can_write_any(current_user):
        abort(403)


def _checked_form() -> bool:
    if CsrfForm().validate_on_submit():
        return True
    flash("La session du formulaire a expiré : recommencez.", "error")
    return False


def _flash_errors(error: ValidationFailed) -> None:
    flash("Rien n'a été enregistré : " + " ".join(error.errors.values()), "error")


def _write(change, success: str) -> None:
    """Run a service write of a form posted from a page: 403 when it is not the user's to do, the French
    errors flashed (nothing written) when the input is refused, ``success`` flashed otherwise."""
    try:
        change()
    except services.Forbidden:
        abort(403)
    except ValidationFailed as error:
        db.session.rollback()
        _flash_errors(error)
    else:
        flash(success, "success")


def _back_to_structure(structure_id: int | None):
    if structure_id:
        return redirect(url_for("structures.show", structure_id=structure_id) + "#reseaux")
    return redirect(url_for("networks.referents"))


# --- Référents -------------------------------------------------------------------------------------------


@bp.route("/referents")
@reader_required
def referents():
    offer_id, department = _filters()
    return render_template(
        "networks/referents.html",
        referents=services.referents(offer_id=offer_id, department=department, limit=services.REFERENTS_PAGE),
        total=services.count_referents(offer_id=offer_id, department=department),
        figures=services.community_figures(department),
        offers=_offers(),
        departments=department_choices(),
        offer_id=offer_id,
        department=department,
    )


@bp.route("/referents/export.<fmt>")
@reader_required
def referents_export(fmt: str):
    if fmt not in FORMATS:
        abort(404)
    offer_id, department = _filters()
    offer = db.session.get(Offer, offer_id) if offer_id else None
    if offer_id and offer is None:
        abort(404)
    table = services.referents_table(offer, department)
    name = "referents-" + (offer.code.lower() if offer else "toutes-offres") + (f"-{department}" if department else "")
    return export_response(table, fmt, name)


@bp.route("/referents/ajouter", methods=["POST"])
@reader_required
def add_referent():
    _require_writer()
    structure_id = as_id(request.form.get("structure_id"))
    if not _checked_form():
        return _back_to_structure(structure_id)
    _write(lambda: services.name_referent(request.form, user=current_user), "Référent enregistré.")
    return _back_to_structure(structure_id)


@bp.route("/referents/<int:referent_id>/fin", methods=["POST"])
@reader_required
def end_referent(referent_id: int):
    _require_writer()
    referent = db.session.get(Referent, referent_id) or abort(404)
    if _checked_form():
        _write(lambda: services.end_referent(referent, user=current_user), "Fin du rôle de référent enregistrée.")
    return _back_to_structure(referent.structure_id)


@bp.route("/evenements/<int:event_id>/inviter-referents", methods=["GET", "POST"])
@reader_required
def invite(event_id: int):
    if not services.can_invite(current_user):
        abort(403)
    event = db.session.get(Event, event_id) or abort(404)
    if request.method == "POST" and _checked_form():
        offer_id = as_id(request.form.get("offer_id"))
        department = (request.form.get("department") or "").strip().upper() or None
        if offer_id is None or db.session.get(Offer, offer_id) is None:
            flash("Choisissez l'offre dont inviter les référents.", "error")
        elif department and not known_department(department):
            flash("Département inconnu.", "error")
        else:
            summary = services.invite_referents(event, offer_id, user=current_user, department=department)
            flash(
                summary.text() + " Chaque référent inscrit reçoit par e-mail son lien personnel.",
                "success" if not summary.refused else "warning",
            )
            for refused in summary.refused[:10]:
                flash(refused, "error")
            return redirect(url_for("events.show", event_id=event.id))
    return render_template(
        "networks/invite.html", event=event, offers=_offers(), departments=department_choices(), form=CsrfForm()
    )


# --- Grappes ---------------------------------------------------------------------------------------------


@bp.route("/grappes")
@reader_required
def grappes():
    _, department = _filters()
    found = services.grappes(department)
    via = services.grappes_formed_via_rendez_vous(found)
    return render_template(
        "networks/grappes.html",
        grappes=found,
        sizes=services.grappe_sizes(found),
        via=via,
        attribution=services.GrappeAttribution(len(found), len(via)),
        departments=department_choices(),
        department=department,
        can_write=services.can_write_any(current_user),
    )


def _grappe_form(grappe: Grappe | None, values: dict | None = None, errors: dict | None = None, status=200):
    if values is None:
        values = {
            "name": grappe.name if grappe else "",
            "lead_structure_id": (grappe.lead.finess_et or grappe.lead.id) if grappe else "",
            "status": grappe.status if grappe else "en_constitution",
            "created_on": grappe.created_on.isoformat() if grappe else "",
            "member_ids": ", ".join(
                str(s.finess_et or s.id) for s in grappe.members if s.id != grappe.lead_structure_id
            )
            if grappe
            else "",
        }
    return (
        render_template(
            "networks/grappe_form.html",
            grappe=grappe,
            values=values,
            errors=errors or {},
            statuses=GRAPPE_STATUSES,
            form=CsrfForm(),
        ),
        status,
    )


def _save_grappe(grappe: Grappe | None):
    if not services.can_write_any(current_user) or (
        grappe is not None and not services.can_write_in(current_user, grappe.lead.department_code)
    ):
        abort(403)
    if request.method == "GET":
        return _grappe_form(grappe)
    values = {
        k: (request.form.get(k) or "")[:4000]
        for k in ("name", "lead_structure_id", "status", "created_on", "member_ids")
    }
    if not _checked_form():
        return _grappe_form(grappe, values, status=400)
    try:
        saved = services.save_grappe(grappe, values, user=current_user)
    except services.Forbidden:
        db.session.rollback()
        return _grappe_form(
            grappe, values, {"lead_structure_id": "La structure porteuse n'est pas dans vos départements."}, 403
        )
    except ValidationFailed as error:
        db.session.rollback()
        return _grappe_form(grappe, values, error.errors, 422)
    flash("Grappe enregistrée.", "success")
    return redirect(url_for("networks.grappe", grappe_id=saved.id))


@bp.route("/grappes/nouvelle", methods=["GET", "POST"])
@reader_required
def new_grappe():
    return _save_grappe(None)


@bp.route("/grappes/<int:grappe_id>/modifier", methods=["GET", "POST"])
@reader_required
def edit_grappe(grappe_id: int):
    return _save_grappe(db.session.get(Grappe, grappe_id) or abort(404))


@bp.route("/grappes/<int:grappe_id>")
@reader_required
def grappe(grappe_id: int):
    found = db.session.get(Grappe, grappe_id) or abort(404)
    return render_template(
        "networks/grappe.html",
        grappe=found,
        via=found.id in services.grappes_formed_via_rendez_vous([found]),
        applications=services.applications(grappe_id=found.id),
        programmes=APPLICATION_PROGRAMMES,
        statuses=APPLICATION_STATUSES,
        transitions=APPLICATION_TRANSITIONS,
        can_write=services.can_write_in(current_user, found.lead.department_code),
        form=CsrfForm(),
    )


@bp.route("/candidatures", methods=["POST"])
@reader_required
def add_application():
    _require_writer()
    grappe_id = as_id(request.form.get("grappe_id"))
    structure_id = as_id(request.form.get("structure_id"))
    found_grappe = db.session.get(Grappe, grappe_id) if grappe_id else None
    structure = db.session.get(Structure, structure_id) if structure_id and not found_grappe else None
    if found_grappe is None and structure is None:
        abort(404)
    back = (
        redirect(url_for("networks.grappe", grappe_id=found_grappe.id))
        if found_grappe
        else _back_to_structure(structure.id)
    )
    if not _checked_form():
        return back
    _write(
        lambda: services.save_application(
            None, request.form, user=current_user, structure=structure, grappe=found_grappe
        ),
        "Candidature enregistrée.",
    )
    return back


@bp.route("/candidatures/<int:application_id>", methods=["POST"])
@reader_required
def update_application(application_id: int):
    _require_writer()
    application = db.session.get(ProgrammeApplication, application_id) or abort(404)
    back = (
        redirect(url_for("networks.grappe", grappe_id=application.grappe_id))
        if application.grappe_id
        else _back_to_structure(application.structure_id)
    )
    if not _checked_form():
        return back
    _write(lambda: services.save_application(application, request.form, user=current_user), "Candidature mise à jour.")
    return back


# --- Partner links and the mesh strategy -----------------------------------------------------------------


def _mesh_filters() -> tuple[list[Offer], Offer | None, str | None]:
    """The active offers, the mesh strategy's offer among them (SPICO by default, the seed 004's example) and
    the department."""
    offer_id, department = _filters()
    offers = _offers()
    offer = next((o for o in offers if o.id == offer_id), None)
    if offer is None:
        offer = next((o for o in offers if o.code == "SPICO_DOSSIERS"), offers[0] if offers else None)
    return offers, offer, department


@bp.route("/maillage/export.<fmt>")
@reader_required
def mesh_export(fmt: str):
    if fmt not in FORMATS:
        abort(404)
    _offers_list, offer, department = _mesh_filters()
    if offer is None:
        abort(404)
    name = f"maillage-{offer.code.lower()}" + (f"-{department}" if department else "")
    return export_response(services.mesh_table(offer, department), fmt, name)


@bp.route("/maillage")
@reader_required
def mesh():
    offers, offer, department = _mesh_filters()
    targets, total = services.mesh_targets(offer.id, department) if offer else ([], 0)
    return render_template(
        "networks/mesh.html",
        targets=targets,
        total=total,
        offers=offers,
        offer_id=offer.id if offer else None,
        departments=department_choices(),
        department=department,
        can_import=services.can_write_any(current_user),
        form=CsrfForm(),
        report=None,
    )


@bp.route("/liens/import", methods=["POST"])
@reader_required
def import_links():
    _require_writer()
    upload = request.files.get("file")
    report = None
    if not _checked_form():
        return redirect(url_for("networks.mesh"))
    if upload is None or not upload.filename:
        flash("Choisissez un fichier CSV.", "error")
        return redirect(url_for("networks.mesh"))
    try:
        report = services.import_links(upload.read(), user=current_user)
    except services.ImportFailed as failed:
        db.session.rollback()
        flash("Import refusé : " + failed.message, "error")
        return redirect(url_for("networks.mesh"))
    flash("Import terminé : " + report.text(), "success" if not report.rejects else "warning")
    return render_template(
        "networks/mesh.html",
        targets=[],
        total=0,
        offers=_offers(),
        offer_id=None,
        departments=department_choices(),
        department=None,
        can_import=True,
        form=CsrfForm(),
        report=report,
    )


@bp.route("/liens", methods=["POST"])
@reader_required
def add_link():
    _require_writer()
    structure_id = as_id(request.form.get("structure_a_id"))
    if not _checked_form():
        return _back_to_structure(structure_id)
    _write(lambda: services.add_link(request.form, user=current_user), "Lien enregistré.")
    return _back_to_structure(structure_id)


@bp.route("/liens/<int:link_id>/supprimer", methods=["POST"])
@reader_required
def delete_link(link_id: int):
    _require_writer()
    link = db.session.get(StructureLink, link_id) or abort(404)
    back_to = as_id(request.form.get("structure_id")) or link.structure_a_id
    if _checked_form():
        try:
            services.delete_link(link, user=current_user)
        except services.Forbidden:
            abort(403)
        flash("Lien supprimé.", "success")
    return _back_to_structure(back_to)


def structure_section(structure: Structure) -> dict:
    """The context of the structure page's section "Réseaux" (templates/networks/_structure_section.html)."""
    return {
        "networks": services.structure_networks(structure, current_user),
        "network_offers": _offers(),
        "link_types": services.link_types(),
        "network_form": CsrfForm(),
        "programmes": APPLICATION_PROGRAMMES,
        "statuses": APPLICATION_STATUSES,
        "transitions": APPLICATION_TRANSITIONS,
    }
