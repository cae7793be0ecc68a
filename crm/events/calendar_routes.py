"""iCalendar downloads and feeds: one published event, all published events, a staff member's own feed."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from crm.events import feeds
from crm.events.ics import event_calendar
from crm.events.models import Event
from crm.platform.extensions import db

bp = Blueprint("calendar", __name__, url_prefix="/calendrier")


def _ics(body: bytes, filename: str, *, download: bool = False, private: bool = False) -> Response:
    response = Response(body, content_type="text/calendar; charset=utf-8")
    response.headers["Content-Disposition"] = f'{"attachment" if download else "inline"}; filename="{filename}"'
    # Calendar clients poll feeds; an hour matches the REFRESH-INTERVAL the feeds announce.
    response.headers["Cache-Control"] = "private, max-age=300" if private else "public, max-age=300"
    if private:
        response.headers["X-Robots-Tag"] = "noindex"
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/evenements.ics")
def public_feed():
    return _ics(feeds.public_feed(), "evenements.ics")


@bp.route("/evenements/<slug>.ics")
def event_download(slug: str):
    """One event's .ics: public once published (a draft is not found, as on its public page)."""
    event = db.session.scalar(select(Event).where(Event.slug == slug[:80]))
    if event is None or event.status not in feeds.PUBLIC_STATUSES:
        abort(404)
    return _ics(event_calendar(event, method="PUBLISH"), f"evenement-{event.id}.ics", download=True)


@bp.route("/personnel/<token>.ics")
def personal_feed(token: str):
    user = feeds.user_for_token(token[:200])
    if user is None:
        abort(404)
    return _ics(feeds.personal_feed(user), "maillage.ics", private=True)


@bp.route("/mon-agenda")
@login_required
def mine():
    return render_template(
        "calendar/mine.html",
        personal_url=url_for("calendar.personal_feed", token=feeds.feed_token(current_user), _external=True),
        public_url=url_for("calendar.public_feed", _external=True),
    )
