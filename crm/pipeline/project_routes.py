"""Project (accompaniment) pages: list, direct creation, one project, its edit form and milestones."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crm.pipeline import queries, services
from crm.pipeline.forms import MilestoneForm, ProjectEditForm, ProjectForm, offer_choices, owner_choices
from crm.pipeline.models import PROJECT_STATUSES, Milestone, Project
from crm.pipeline.routes import bp, filter_options, may_write, require_edit, require_writer
from crm.platform.concurrency import StaleEdit
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.validation import ValidationFailed
from crm.platform.web import apply_errors, department_arg, form_data, get_or_404, int_arg, list_page, version_of
from crm.structures.models import Structure


@bp.route("/projets")
@login_required
def projects():
    status = request.args.get("statut")
    params = {
        "departement": department_arg(),
        "programme": int_arg("programme"),
        "statut": status if status in PROJECT_STATUSES else None,
        "responsable": int_arg("responsable"),
    }
    filters = queries.ProjectFilters(
        department=params["departement"],
        programme=params["programme"],
        status=params["statut"],
        owner=params["responsable"],
    )
    page, page_error = list_page(queries.list_projects, filters)
    return render_template(
        "pipeline/projects.html",
        page=page,
        page_error=page_error,
        params=params,
        statuses=PROJECT_STATUSES,
        can_write=may_write(),
        **filter_options(),
    )


@bp.route("/projets/nouveau", methods=["GET", "POST"])
@login_required
def project_new():
    """A project started directly: it counts as engagement, not as a transformed opportunity."""
    require_writer()
    form = ProjectForm()
    structure = None
    structure_id = int_arg("structure_id")
    if structure_id is not None:
        structure = get_or_404(Structure, structure_id)
        require_edit(structure)
        form.structure_id.data = str(structure.id)
    elif str(form.structure_id.data or "").isdigit() and len(str(form.structure_id.data)) < 10:
        structure = db.session.get(Structure, int(form.structure_id.data))
    if request.method == "GET":
        form.started_on.data = local_today().isoformat()
    form.offer_id.choices = offer_choices(queries.offers_by_programme())
    form.owner_id.choices = owner_choices(queries.owner_choices(), blank="— Par défaut —")
    if form.validate_on_submit():
        try:
            project = services.create_project(form_data(form), user=current_user)
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            flash("Projet créé.", "success")
            return redirect(url_for("pipeline.project", project_id=project.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "pipeline/project_form.html", form=form, project=None, structure=structure, fixed=structure_id is not None
    ), status


@bp.route("/projets/<int:project_id>")
@login_required
def project(project_id: int):
    project = get_or_404(Project, project_id)
    return render_template(
        "pipeline/project.html", project=project, milestone_form=MilestoneForm(), today=local_today()
    )


@bp.route("/projets/<int:project_id>/modifier", methods=["GET", "POST"])
@login_required
def project_edit(project_id: int):
    project = get_or_404(Project, project_id)
    require_edit(project.structure)
    form = ProjectEditForm(obj=project)
    if request.method == "GET":
        form.version.data = project.version
    if form.validate_on_submit():
        try:
            services.update_project(project, form_data(form), user=current_user, expected_version=version_of(form))
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        except StaleEdit as error:
            db.session.rollback()
            flash(str(error), "error")
            return render_template("pipeline/project_form.html", form=form, project=project), 409
        else:
            flash("Projet enregistré.", "success")
            return redirect(url_for("pipeline.project", project_id=project.id))
    status = 422 if request.method == "POST" else 200
    return render_template("pipeline/project_form.html", form=form, project=project), status


@bp.route("/projets/<int:project_id>/jalons", methods=["POST"])
@login_required
def project_milestone_add(project_id: int):
    project = get_or_404(Project, project_id)
    require_edit(project.structure)
    form = MilestoneForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.add_milestone(project, form_data(form), user=current_user)
    except ValidationFailed as error:
        db.session.rollback()
        apply_errors(form, error)
        return render_template("pipeline/project.html", project=project, milestone_form=form, today=local_today()), 422
    flash("Jalon ajouté.", "success")
    return redirect(url_for("pipeline.project", project_id=project.id) + "#jalons")


@bp.route("/projets/<int:project_id>/jalons/<int:milestone_id>", methods=["POST"])
@login_required
def project_milestone_toggle(project_id: int, milestone_id: int):
    project = get_or_404(Project, project_id)
    milestone = get_or_404(Milestone, milestone_id)
    if milestone.project_id != project.id:
        abort(404)
    require_edit(project.structure)
    done = request.form.get("done")
    if done not in ("0", "1"):
        abort(400)
    services.set_milestone_done(milestone, done == "1", user=current_user)
    flash("Jalon marqué comme atteint." if done == "1" else "Jalon remis à faire.", "success")
    return redirect(url_for("pipeline.project", project_id=project.id) + "#jalons")
