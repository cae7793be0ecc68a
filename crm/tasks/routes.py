"""Task pages: "Mes relances", done in one click, created by hand."""

from __future__ import annotations

from flask import Blueprint, abort, flash, has_request_context, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from crm.accounts import permissions
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.security import is_safe_redirect
from crm.platform.validation import ValidationFailed
from crm.structures.models import Structure
from crm.tasks import services
from crm.tasks.forms import TaskForm
from crm.tasks.models import Task

bp = Blueprint("tasks", __name__, url_prefix="/relances")


@bp.app_context_processor
def task_helpers():
    return {
        "can_manage_tasks": lambda: permissions.can_manage_tasks(current_user),
        "can_edit_task": lambda task: permissions.can_edit_task(current_user, task),
        "tasks_due_count": _due_count(),
    }


def _due_count() -> int | None:
    """Overdue and today's tasks of the logged-in user, for the navigation badge."""
    # Templates rendered outside a request (e-mails from a worker) have no user.
    if not has_request_context() or not current_user.is_authenticated or not permissions.can_manage_tasks(current_user):
        return None
    try:
        return services.due_count_for(current_user.id)
    except SQLAlchemyError:
        # An error page rendered after a database failure must still render.
        return None


def _structure_arg() -> Structure | None:
    value = request.args.get("structure_id", "")
    if not value.isascii() or not value.isdigit() or not 0 < int(value) < 2**31:
        return None
    return db.session.get(Structure, int(value))


@bp.route("", methods=["GET", "POST"])
@login_required
def mine():
    form = TaskForm()
    status = 200
    if request.method == "POST":
        if not permissions.can_manage_tasks(current_user):
            abort(403)
        if form.validate_on_submit():
            try:
                _create(form)
            except ValidationFailed as error:
                db.session.rollback()
                for field, message in error.errors.items():
                    target = form._fields.get("structure_label" if field == "structure_id" else field)
                    if target is not None:
                        target.errors = list(target.errors) + [message]
                    else:
                        flash(message, "error")
            else:
                flash("Relance créée.", "success")
                return redirect(url_for("tasks.mine"))
        status = 422
    else:
        structure = _structure_arg()
        if structure is not None:
            form.structure_id.data = str(structure.id)
            form.structure_label.data = structure.name
    form.structure_label.render_kw = {
        "data-autocomplete": url_for("structures.autocomplete"),
        "data-target": "task-structure-id",
        "autocomplete": "off",
    }
    return render_template(
        "tasks/mine.html",
        form=form,
        buckets=services.open_tasks_for(current_user.id),
        done=services.recently_done_for(current_user.id),
        today=local_today(),
    ), status


def _create(form: TaskForm) -> Task:
    data = {name: form._fields[name].data for name in ("title", "due_on", "structure_id", "description")}
    if (form.structure_label.data or "").strip() and not (form.structure_id.data or "").strip():
        raise ValidationFailed(
            {"structure_label": "Choisissez la structure dans la liste proposée, ou videz ce champ."}
        )
    return services.create_task(data, user=current_user)


def _editable_task(task_id: int) -> Task:
    task = db.session.get(Task, task_id)
    if task is None:
        abort(404)
    if not permissions.can_edit_task(current_user, task):
        abort(403)
    return task


def _back():
    target = request.form.get("next")
    return redirect(target if is_safe_redirect(target) else url_for("tasks.mine"))


@bp.route("/<int(max=2147483647):task_id>/fait", methods=["POST"])
@login_required
def done(task_id: int):
    task = _editable_task(task_id)
    services.set_done(task, True, user=current_user)
    flash(f"Relance « {task.title} » faite.", "success")
    return _back()


@bp.route("/<int(max=2147483647):task_id>/rouvrir", methods=["POST"])
@login_required
def reopen(task_id: int):
    task = _editable_task(task_id)
    services.set_done(task, False, user=current_user)
    flash(f"Relance « {task.title} » rouverte.", "success")
    return _back()
