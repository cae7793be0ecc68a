"""Sessions and "remember me" cookies, and how one stroke ends them all on every device.

A session stores its user's id with the user's ``session_version`` (``User.get_id``), and the user
loader accepts it only while the version is current. Logging out, a new password (one's own or
set by an admin) or a deactivation bumps the version and deletes the user's remember-me tokens:
every session cookie signed before, copied or not, is refused on its next request.

"Remember me" is ours, not Flask-Login's (whose cookie was the same signed user id at every
login, for a year, and outlived logout): a random token per browser, stored as its SHA-256, swapped
for a new one each time it opens a session (a copied cookie works once at most), ending
``REMEMBER_COOKIE_DAYS`` after the login that issued it, however often it is used.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, g, request, session
from flask_login import login_user
from sqlalchemy import delete, update

from crm.accounts.models import RememberToken, User
from crm.platform.extensions import db
from crm.platform.models import utcnow

REMEMBER_COOKIE = "maillage_remember"
LEGACY_REMEMBER_COOKIE = "remember_token"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_for_session(user_id: str) -> User | None:
    """The user of a session's ``"<id>:<version>"``, if active and the version still current."""
    ident, _, version = (user_id or "").partition(":")
    if not (ident.isdigit() and version.isdigit()) or len(ident) > 10:
        return None
    user = db.session.get(User, int(ident))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def end_all_sessions(user: User) -> None:
    """Refuse from now on every session and remember-me cookie of ``user``; the caller commits.

    The version is bumped in SQL, so two bumps at once both count.
    """
    user.session_version = User.session_version + 1
    db.session.execute(delete(RememberToken).where(RememberToken.user_id == user.id))
    db.session.flush()


def remember(user: User) -> None:
    """Give this browser a remember-me cookie for ``user`` (set on the response)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + timedelta(days=current_app.config["REMEMBER_COOKIE_DAYS"])
    db.session.execute(delete(RememberToken).where(RememberToken.user_id == user.id, RememberToken.expires_at <= now))
    db.session.add(RememberToken(user_id=user.id, token_hash=_hash(token), created_at=now, expires_at=expires_at))
    db.session.commit()
    g.remember_cookie = (token, expires_at)


def forget() -> None:
    """Delete this browser's remember-me cookie (on the response)."""
    g.remember_cookie = None


def login_from_remember_cookie(request_) -> User | None:
    """Flask-Login's request loader: a request without a valid session but with our cookie.

    The token is swapped in one UPDATE guarded by its old hash: of two requests replaying the same
    cookie, one only opens a session.
    """
    token = request_.cookies.get(REMEMBER_COOKIE)
    if not token or request_.path.startswith("/api/"):
        return None
    user = None
    if len(token) < 100:
        new_token, now = secrets.token_urlsafe(32), utcnow()
        db.session.commit()  # SQLite: a write must open its transaction, not follow this request's reads
        row = db.session.execute(
            update(RememberToken)
            .where(RememberToken.token_hash == _hash(token), RememberToken.expires_at > now)
            .values(token_hash=_hash(new_token), last_used_at=now)
            .returning(RememberToken.user_id, RememberToken.expires_at)
        ).first()
        db.session.commit()
        if row is not None:
            user = db.session.get(User, row.user_id)
            if user is not None and user.active:
                g.remember_cookie = (new_token, row.expires_at)
                login_user(user, fresh=False)
                return user
    forget()
    return None


def write_remember_cookie(response):
    flags = {"path": "/", "secure": current_app.config["REMEMBER_COOKIE_SECURE"], "httponly": True, "samesite": "Lax"}
    if LEGACY_REMEMBER_COOKIE in request.cookies:
        # Flask-Login's cookie of before (a signed bare id, which the user loader refuses): wiped, or
        # Flask-Login would keep trying it instead of ours.
        response.delete_cookie(LEGACY_REMEMBER_COOKIE, **flags)
    if "remember_cookie" not in g:
        if session.get("_remember") != "clear":  # Flask-Login's mark of a session it ended
            return response
        forget()
    if g.remember_cookie is None:
        if REMEMBER_COOKIE in request.cookies:
            response.delete_cookie(REMEMBER_COOKIE, **flags)
    else:
        token, expires_at = g.remember_cookie
        response.set_cookie(REMEMBER_COOKIE, token, expires=expires_at, **flags)
    return response
