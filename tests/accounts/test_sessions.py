"""Logout, a new password and a deactivation end every session and remember-me cookie of the account.

A session cookie is copied from one test client to another, as a thief would replay it.
"""

import hashlib
from datetime import timedelta

from sqlalchemy import func, select

from crm.accounts.models import RememberToken, User
from crm.accounts.sessions import REMEMBER_COOKIE
from crm.platform.extensions import db
from crm.platform.models import utcnow
from tests.conftest import PASSWORD, csrf_token, login, post


def _replay(app, name, value):
    """A fresh browser holding only this cookie."""
    other = app.test_client()
    other.set_cookie(name, value)
    return other


def _copied_session(app, client):
    return _replay(app, "session", client.get_cookie("session").value)


def _logged_in(client) -> bool:
    response = client.get("/structures")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def _remember_login(client, user):
    response = client.post(
        "/connexion",
        data={"email": user.email, "password": PASSWORD, "remember": "y", "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302
    return response


def _set_cookie_header(response, name):
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    assert len(headers) == 1, response.headers.getlist("Set-Cookie")
    return headers[0]


def test_session_cookie_replayed_after_logout_is_refused(app, client, make_user):
    user = make_user("manager")
    login(client, user)
    thief = _copied_session(app, client)
    assert _logged_in(thief)  # the copy works while the session lives
    assert post(client, "/deconnexion").status_code == 302
    assert not _logged_in(thief)
    assert not _logged_in(_replay(app, "session", thief.get_cookie("session").value))


def test_logout_ends_the_sessions_on_every_device(app, make_user):
    user = make_user("manager")
    laptop, phone = login(app.test_client(), user), login(app.test_client(), user)
    assert _logged_in(laptop) and _logged_in(phone)
    post(laptop, "/deconnexion")
    assert not _logged_in(phone)


def test_own_password_change_ends_other_sessions_but_not_this_one(app, client, make_user):
    user = make_user("manager")
    login(client, user)
    thief = _copied_session(app, client)
    response = post(
        client,
        "/mon-compte/mot-de-passe",
        {"current_password": PASSWORD, "new_password": "nouveau-mot-de-passe", "confirmation": "nouveau-mot-de-passe"},
    )
    assert response.status_code == 302
    assert _logged_in(client)
    assert not _logged_in(thief)
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password("nouveau-mot-de-passe")


def test_own_password_change_needs_the_current_password(client, make_user):
    user = make_user("manager")
    login(client, user)
    response = post(
        client,
        "/mon-compte/mot-de-passe",
        {
            "current_password": "pas-le-bon-mot",
            "new_password": "nouveau-mot-de-passe",
            "confirmation": "nouveau-mot-de-passe",
        },
    )
    assert response.status_code == 200
    assert "Le mot de passe actuel est incorrect." in response.get_data(as_text=True)
    assert _logged_in(client)
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password(PASSWORD)


def test_password_reset_by_an_admin_ends_the_users_sessions(app, client, make_user):
    user = make_user("animateur", ["31"])
    victim_browser = login(app.test_client(), user)
    login(client, make_user("admin"))
    response = post(
        client,
        f"/admin/utilisateurs/{user.id}",
        {
            "email": user.email,
            "role": "animateur",
            "departments": ["31"],
            "password": "mot-de-passe-remis",
            "active": "y",
        },
    )
    assert response.status_code == 302
    assert not _logged_in(victim_browser)
    assert _logged_in(client)  # the admin's own session is untouched


def test_admin_changing_own_password_stays_logged_in_here_only(app, client, make_user):
    admin = make_user("admin")
    login(client, admin)
    elsewhere = _copied_session(app, client)
    post(
        client,
        f"/admin/utilisateurs/{admin.id}",
        {"email": admin.email, "role": "admin", "password": "mot-de-passe-remis", "active": "y"},
    )
    assert _logged_in(client) and not _logged_in(elsewhere)


def test_deactivation_ends_sessions_even_once_reactivated(app, client, make_user):
    user = make_user("animateur", ["31"])
    browser = login(app.test_client(), user)
    stolen = browser.get_cookie("session").value
    login(client, make_user("admin"))
    fields = {"email": user.email, "role": "animateur", "departments": ["31"]}
    post(client, f"/admin/utilisateurs/{user.id}", fields)  # "active" unchecked: deactivated
    assert not _logged_in(browser)
    post(client, f"/admin/utilisateurs/{user.id}", {**fields, "active": "y"})
    db.session.expire_all()
    assert db.session.get(User, user.id).active
    assert not _logged_in(_replay(app, "session", stolen))


def test_remember_cookie_is_random_hashed_and_flagged(app, client, make_user):
    user = make_user("manager")
    header = _set_cookie_header(_remember_login(client, user), REMEMBER_COOKIE)
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Secure" not in header  # CRM_ENV=test: plain HTTP in development
    value = client.get_cookie(REMEMBER_COOKIE).value
    stored = db.session.scalars(select(RememberToken)).one()
    assert stored.token_hash == hashlib.sha256(value.encode()).hexdigest() and value not in stored.token_hash
    # Not a year: REMEMBER_COOKIE_DAYS (30) after the login.
    assert app.config["REMEMBER_COOKIE_DAYS"] == 30
    assert (
        timedelta(days=29)
        < stored.expires_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
        <= timedelta(days=30)
    )
    post(client, "/deconnexion")
    second = app.test_client()
    _remember_login(second, user)
    assert second.get_cookie(REMEMBER_COOKIE).value != value  # a new random value at each login


def test_remember_cookie_is_secure_outside_development(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "REMEMBER_COOKIE_SECURE", True)
    header = _set_cookie_header(_remember_login(client, make_user("manager")), REMEMBER_COOKIE)
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


def test_session_cookie_flags(app, client, make_user, monkeypatch):
    header = _set_cookie_header(client.get("/connexion"), "session")  # the CSRF token opens the session
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    header = _set_cookie_header(app.test_client().get("/connexion"), "session")
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" in header


def test_cookie_settings_outside_development(monkeypatch):
    from crm.platform.config import load_config

    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    config = load_config()
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert config["SESSION_COOKIE_HTTPONLY"] and config["REMEMBER_COOKIE_HTTPONLY"]
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax" and config["REMEMBER_COOKIE_SAMESITE"] == "Lax"


def test_remember_cookie_rotates_on_use_and_works_once(app, client, make_user):
    user = make_user("manager")
    _remember_login(client, user)
    first = client.get_cookie(REMEMBER_COOKIE).value
    restarted = _replay(app, REMEMBER_COOKIE, first)  # the browser was closed: no session cookie left
    response = restarted.get("/structures")
    assert response.status_code == 200
    second = restarted.get_cookie(REMEMBER_COOKIE).value
    assert second != first
    assert "HttpOnly" in _set_cookie_header(response, REMEMBER_COOKIE)
    assert _logged_in(restarted)  # now by its new session
    assert not _logged_in(_replay(app, REMEMBER_COOKIE, first))  # the copy of the old value is refused
    assert _logged_in(_replay(app, REMEMBER_COOKIE, second))
    assert db.session.scalar(select(func.count()).select_from(RememberToken)) == 1


def test_remember_cookie_is_refused_after_logout(app, client, make_user):
    user = make_user("manager")
    _remember_login(client, user)
    copied = client.get_cookie(REMEMBER_COOKIE).value
    response = post(client, "/deconnexion")
    assert f"{REMEMBER_COOKIE}=;" in _set_cookie_header(response, REMEMBER_COOKIE)  # deleted here
    assert not _logged_in(_replay(app, REMEMBER_COOKIE, copied))  # and refused elsewhere
    assert db.session.scalar(select(func.count()).select_from(RememberToken)) == 0


def test_remember_cookie_is_refused_after_a_password_change(app, client, make_user):
    user = make_user("manager")
    other_device = app.test_client()
    _remember_login(other_device, user)
    copied = other_device.get_cookie(REMEMBER_COOKIE).value
    login(client, user)
    post(
        client,
        "/mon-compte/mot-de-passe",
        {"current_password": PASSWORD, "new_password": "nouveau-mot-de-passe", "confirmation": "nouveau-mot-de-passe"},
    )
    assert not _logged_in(_replay(app, REMEMBER_COOKIE, copied))


def test_remember_cookie_ends_at_its_expiry_whatever_the_use(app, client, make_user):
    user = make_user("manager")
    _remember_login(client, user)
    value = client.get_cookie(REMEMBER_COOKIE).value
    db.session.execute(RememberToken.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert not _logged_in(_replay(app, REMEMBER_COOKIE, value))


def test_flask_login_cookie_of_before_is_refused(app, client, make_user):
    """The old remember cookie, a signed bare id the same at every login, no longer opens a session."""
    from flask_login.utils import encode_cookie

    user = make_user("manager")
    with app.test_request_context():
        legacy = encode_cookie(str(user.id))
    browser = _replay(app, "remember_token", legacy)
    response = browser.get("/structures")
    assert response.status_code == 302
    assert "remember_token=;" in _set_cookie_header(response, "remember_token")


def test_one_remember_cookie_replayed_at_once_opens_one_session(app, client, make_user):
    """Two browsers send the same remember-me cookie at the same moment, each request in its own thread,
    app context and database session: the token is swapped once, so one of them only is let in."""
    import threading

    user = make_user("manager")
    _remember_login(client, user)
    value = client.get_cookie(REMEMBER_COOKIE).value
    browsers = [_replay(app, REMEMBER_COOKIE, value) for _ in range(6)]
    barrier = threading.Barrier(len(browsers))
    statuses, errors = [], []

    def replay(browser):
        try:
            with app.app_context():
                barrier.wait()
                statuses.append(browser.get("/structures").status_code)
        except Exception as error:  # reported below: an assertion in a thread would be lost
            errors.append(repr(error))

    threads = [threading.Thread(target=replay, args=(browser,)) for browser in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(statuses) == [200] + [302] * (len(browsers) - 1)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(RememberToken)) == 1
