"""Structure registry pages: list and search, edit, contacts (the 360° view is crm/pages/structure.py)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from sqlalchemy import select

from crm.accounts import permissions
from crm.platform.extensions import db
from crm.platform.validation import as_id
from crm.platform.web import apply_errors, int_arg, list_page
from crm.referential.models import Category, Sector
from crm.referential.services import department_choices, departments_for_select
from crm.structures import contacts as contact_services
from crm.structures import services
from crm.structures.forms import ConfirmForm, ContactForm, StructureForm
from crm.structures.models import Structure

bp = Blueprint("structures", __name__, url_prefix="/structures")


def _list_params() -> dict:
    status = request.args.get("statut", "ouvertes")
    return {
        "q": (request.args.get("q") or "").strip()[:200],
        "department": (request.args.get("departement") or "").strip()[:3].upper() or None,
        "sector": int_arg("secteur"),
        "category": int_arg("categorie"),
        "status": status if status in ("ouvertes", "fermees", "toutes") else "ouvertes",
        "sort": request.args.get("tri") if request.args.get("tri") in services.SORTS else "nom",
        "extra": {f.arg: (request.args.get(f.arg) or "").strip()[:60] for f in services.EXTRA_FILTERS},
    }


@bp.route("")
@login_required
def index():
    params = _list_params()
    page, page_error = list_page(
        services.search_structures,
        params["q"],
        department=params["department"],
        sector=params["sector"],
        category=params["category"],
        status=None if params["status"] == "toutes" else params["status"],
        sort=params["sort"],
        extra=params["extra"],
    )
    return render_template(
        "structures/index.html",
        page=page,
        page_error=page_error,
        params=params,
        departments=department_choices(),
        sectors=db.session.scalars(select(Sector).order_by(Sector.position)).all(),
        categories=db.session.scalars(select(Category).order_by(Category.label)).all(),
        extra_filters=services.EXTRA_FILTERS,
        sorts={
            "nom": "Nom",
            "commune": "Commune",
            "departement": "Département",
            "finess": "FINESS",
            "maj": "Dernière mise à jour",
        },
    )


@bp.route("/autocomplete")
@login_required
def autocomplete():
    return jsonify(services.autocomplete((request.args.get("q") or "")[:200], limit=int_arg("limite", 10, maximum=50)))


def structure_or_404(structure_id: int) -> Structure:
    # Beyond PostgreSQL's integer the lookup itself would fail: such an id is simply unknown.
    structure = db.session.get(Structure, structure_id) if structure_id < 2**31 else None
    if structure is None:
        abort(404)
    return structure


def _structure_form(structure: Structure | None) -> StructureForm:
    form = StructureForm(obj=structure)
    if current_user.role == "admin":
        departments = departments_for_select()
    else:
        departments = [d for d in departments_for_select() if d.code in current_user.department_codes]
        if structure is not None and structure.department not in departments:
            departments.append(structure.department)
    form.department_code.choices = department_choices("— Choisir —", departments)
    form.sector_id.choices = [("", "— Déduit de la catégorie —")] + [
        (str(s.id), s.label) for s in db.session.scalars(select(Sector).order_by(Sector.position))
    ]
    form.category_id.choices = [("", "— Aucune —")] + [
        (str(c.id), c.label + (f" ({c.sector.label})" if c.sector else ""))
        for c in db.session.scalars(select(Category).order_by(Category.label))
    ]
    if structure is not None and request.method == "GET":
        form.sector_id.data = str(structure.sector_id or "")
        form.category_id.data = str(structure.category_id or "")
    return form


def _apply_errors(form, error: services.ValidationFailed) -> None:
    apply_errors(form, error)
    if error.existing is not None:
        link = url_for("structures.show", structure_id=error.existing.id)
        flash(
            Markup('Ce numéro FINESS est déjà celui de <a href="{}">{}</a>.').format(link, escape(error.existing.name)),
            "error",
        )


def _form_data(form: StructureForm) -> dict:
    return {name: field.data for name, field in form._fields.items() if name not in ("csrf_token", "version")}


@bp.route("/nouvelle", methods=["GET", "POST"])
@login_required
def create():
    if not permissions.can_create_structure(current_user):
        abort(403)
    form = _structure_form(None)
    if form.validate_on_submit():
        data = _form_data(form)
        if not permissions.can_edit_department(current_user, data.get("department_code")):
            form.department_code.errors = ["Vous ne pouvez créer des structures que dans vos départements."]
        else:
            try:
                structure = services.create_structure(data)
            except services.ValidationFailed as error:
                _apply_errors(form, error)
            else:
                flash("Structure créée.", "success")
                return redirect(url_for("structures.show", structure_id=structure.id))
    return render_template("structures/form.html", form=form, structure=None), 422 if form.errors else 200


@bp.route("/<int:structure_id>/modifier", methods=["GET", "POST"])
@login_required
def edit(structure_id: int):
    structure = structure_or_404(structure_id)
    if not permissions.can_edit_structure(current_user, structure):
        abort(403)
    form = _structure_form(structure)
    if request.method == "GET":
        form.version.data = structure.version
    if form.validate_on_submit():
        data = _form_data(form)
        if data.get("department_code") != structure.department_code and not permissions.can_edit_department(
            current_user, data.get("department_code")
        ):
            form.department_code.errors = ["Vous ne pouvez pas déplacer la structure hors de vos départements."]
        else:
            try:
                version = as_id(form.version.data)
                services.update_structure(structure, data, expected_version=version)
            except services.ValidationFailed as error:
                db.session.rollback()
                _apply_errors(form, error)
            except services.StaleEdit as error:
                db.session.rollback()
                flash(str(error), "error")
            else:
                flash("Modifications enregistrées.", "success")
                return redirect(url_for("structures.show", structure_id=structure.id))
    status = 422 if request.method == "POST" else 200
    return render_template("structures/form.html", form=form, structure=structure), status


@bp.route("/<int:structure_id>/supprimer", methods=["POST"])
@login_required
def delete(structure_id: int):
    structure = structure_or_404(structure_id)
    if not permissions.can_delete_structure(current_user):
        abort(403)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    name = structure.name
    services.delete_structure(structure)
    flash(f"Structure « {name} » supprimée.", "success")
    return redirect(url_for("structures.index"))


# --- contacts -------------------------------------------------------------------------------------


def _editable_structure(structure_id: int) -> Structure:
    structure = structure_or_404(structure_id)
    if not permissions.can_edit_structure(current_user, structure):
        abort(403)
    return structure


def _get_contact(structure: Structure, contact_id: int):
    contact = contact_services.contact_for(structure, contact_id)
    if contact is None:
        abort(404)
    return contact


@bp.route("/<int:structure_id>/contacts/nouveau", methods=["GET", "POST"])
@bp.route("/<int:structure_id>/contacts/<int:contact_id>/modifier", methods=["GET", "POST"])
@login_required
def edit_contact(structure_id: int, contact_id: int | None = None):
    structure = _editable_structure(structure_id)
    contact = _get_contact(structure, contact_id) if contact_id else None
    if contact is not None and contact.erased_at:
        abort(404)
    form = ContactForm(obj=contact)
    if form.validate_on_submit():
        data = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
        try:
            contact_services.save_contact(structure, contact, data)
        except services.ValidationFailed as error:
            db.session.rollback()
            _apply_errors(form, error)
        else:
            flash("Contact enregistré.", "success")
            return redirect(url_for("structures.show", structure_id=structure.id) + "#contacts")
    status = 422 if request.method == "POST" else 200
    return render_template("structures/contact_form.html", form=form, structure=structure, contact=contact), status


@bp.route("/<int:structure_id>/contacts/<int:contact_id>/supprimer", methods=["POST"])
@login_required
def delete_contact(structure_id: int, contact_id: int):
    structure = _editable_structure(structure_id)
    contact = _get_contact(structure, contact_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    contact_services.delete_contact(contact)
    flash("Contact supprimé.", "success")
    return redirect(url_for("structures.show", structure_id=structure.id) + "#contacts")


@bp.route("/<int:structure_id>/contacts/<int:contact_id>/effacer", methods=["POST"])
@login_required
def erase_contact(structure_id: int, contact_id: int):
    structure = _editable_structure(structure_id)
    contact = _get_contact(structure, contact_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    contact_services.erase_contact(contact)
    flash("Les données personnelles du contact ont été effacées (droit à l'effacement).", "success")
    return redirect(url_for("structures.show", structure_id=structure.id) + "#contacts")
