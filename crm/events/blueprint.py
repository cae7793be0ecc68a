"""The ``events`` blueprint (the back office under /evenements) and the guards its pages share.

Its pages live in three modules: the event's life (crm.events.routes), the check-in screen and the
registrations' status (crm.events.registration.checkin_routes), the event page showing what the event
produced (crm.pages.event_results, above the indicators it reads). Organisers and admins write;
animators and managers read.
"""

from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user

from crm.accounts.permissions import EVENT_READ_ROLES, can_manage_events, roles_required
from crm.events.models import Event
from crm.platform.web import get_or_404

bp = Blueprint("events", __name__, url_prefix="/evenements")

reader_required = roles_required(*EVENT_READ_ROLES)


def require_manager() -> None:
    if not can_manage_events(current_user):
        abort(403)


def event_or_404(event_id: int) -> Event:
    return get_or_404(Event, event_id)
