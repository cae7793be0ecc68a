"""The home page: where each role lands after logging in (endpoint ``core.home``, URL /), and the
animator's day (``core.my_day``, URL /ma-journee)."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from flask_login import current_user, login_required

from crm.accounts.permissions import roles_required
from crm.activities.services import list_activities
from crm.pipeline.models import OPEN_STAGES
from crm.pipeline.queries import COLUMNS, OpportunityFilters, column_counts
from crm.platform.dates import local_today
from crm.platform.routes import bp
from crm.referential.services import departments_for_select
from crm.tasks.services import open_tasks_for

RECENT_ACTIVITIES = 8


@bp.route("/")
@login_required
def home():
    """Each role lands on its own page: managers on their indicators, organisers on their upcoming events,
    animators on their day, admins on the administration index (users, imports, reference data)."""
    role = current_user.role
    if role == "manager":
        return redirect(url_for("indicators.manager"))
    if role == "organisateur":
        return redirect(url_for("events.index", periode="a_venir", mes="1"))
    if role == "animateur":
        return redirect(url_for("core.my_day"))
    if role == "admin":
        return redirect(url_for("admin.index"))
    return redirect(url_for("structures.index"))


@bp.route("/ma-journee")
@login_required
@roles_required("animateur")
def my_day():
    """The animator's day: follow-ups due (late and today), their latest activities, and the open
    opportunities of their departments by stage, each count a link to the board of that department."""
    tasks = open_tasks_for(current_user.id)
    codes = current_user.department_codes
    open_columns = [(key, label) for key, label, stages in COLUMNS if key in OPEN_STAGES]
    pipeline = [
        (department, column_counts(OpportunityFilters(department=department.code)))
        for department in departments_for_select()
        if department.code in codes
    ]
    return render_template(
        "pages/my_day.html",
        tasks=tasks,
        today=local_today(),
        activities=list_activities(author=current_user.id, per_page=RECENT_ACTIVITIES).items,
        open_columns=open_columns,
        pipeline=pipeline,
    )
