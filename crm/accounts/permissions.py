"""Role rules, decided on the server. Templates only hide what these refuse."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user

from crm.accounts.models import User

EDIT_ROLES = {"animateur", "admin"}


def is_admin(user: User) -> bool:
    return user.is_authenticated and user.role == "admin"


def can_edit_department(user: User, department_code: str | None) -> bool:
    """Admins edit everywhere; animators only in their assigned departments."""
    if not user.is_authenticated:
        return False
    if user.role == "admin":
        return True
    return user.role == "animateur" and department_code in user.department_codes


def can_edit_structure(user: User, structure) -> bool:
    return can_edit_department(user, structure.department_code)


def can_create_structure(user: User) -> bool:
    return user.is_authenticated and (user.role == "admin" or (user.role == "animateur" and bool(user.departments)))


def can_delete_structure(user: User) -> bool:
    # Structures are referenced by the whole history; only an admin removes one.
    return is_admin(user)


def roles_required(*roles: str):
    """Route decorator: 403 unless the logged-in user has one of ``roles``."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                abort(401)
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


admin_required = roles_required("admin")


def can_write_structures(user: User, structures) -> bool:
    """Activities, opportunities and projects: every structure concerned must be the user's to edit."""
    return bool(structures) and all(can_edit_structure(user, s) for s in structures)


def can_log_activity(user: User) -> bool:
    return user.is_authenticated and (user.role == "admin" or (user.role == "animateur" and bool(user.departments)))


def can_edit_activity(user: User, activity) -> bool:
    """Edit or delete an activity: an admin; its author (still an animator); an animator whose departments
    hold every structure it concerns. Organisers and managers never do."""
    if not user.is_authenticated:
        return False
    if user.role == "admin":
        return True
    if user.role != "animateur":
        return False
    return activity.author_id == user.id or can_write_structures(user, activity.structures)


def can_manage_tasks(user: User) -> bool:
    """Managers read; everyone else keeps follow-ups."""
    return user.is_authenticated and user.role in ("animateur", "organisateur", "admin")


def can_edit_task(user: User, task) -> bool:
    return can_manage_tasks(user) and (
        user.role == "admin" or task.owner_id == user.id or task.created_by_id == user.id
    )


EVENT_WRITE_ROLES = ("organisateur", "admin")
EVENT_READ_ROLES = ("animateur", "organisateur", "manager", "admin")


def can_manage_events(user: User) -> bool:
    """Organisers and admins run events; animators and managers read them."""
    return user.is_authenticated and user.role in EVENT_WRITE_ROLES
