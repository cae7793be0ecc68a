"""What a borrowed session or a reactivation must not bring back, and secrets kept out of the logs
(found by the review of the sessions and tokens work)."""

import logging

from sqlalchemy import func, select

from crm.accounts.models import LoginFailure
from crm.accounts.services import create_api_token, save_user
from crm.events.feeds import feed_token
from crm.platform.extensions import db
from crm.platform.security import MaskPersonalLinks
from tests.conftest import PASSWORD, login, post


def _me(client, token):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def _set_active(user, active):
    save_user(
        user,
        email=user.email,
        role=user.role,
        department_codes=sorted(user.department_codes),
        active=active,
        first_name=user.first_name,
        last_name=user.last_name,
    )


def test_a_reactivated_account_gets_neither_its_old_tokens_nor_its_old_feed_back(client, make_user):
    user = make_user("manager")
    token, feed = create_api_token(user), feed_token(user)
    assert _me(client, token) == 200 and client.get(f"/calendrier/personnel/{feed}.ics").status_code == 200
    _set_active(user, False)
    assert _me(client, token) == 401 and client.get(f"/calendrier/personnel/{feed}.ics").status_code == 404
    _set_active(user, True)
    assert _me(client, token) == 401
    assert client.get(f"/calendrier/personnel/{feed}.ics").status_code == 404
    # The new URL works: the account is back, with new secrets only.
    assert client.get(f"/calendrier/personnel/{feed_token(user)}.ics").status_code == 200
    assert _me(client, create_api_token(user)) == 200


def test_access_and_error_logs_mask_the_calendar_feed_and_personal_links(app, make_user):
    token = feed_token(make_user("manager"))
    for logger_name, line in (
        ("werkzeug", '"GET /calendrier/personnel/%s.ics HTTP/1.1" 200 -'),
        ("gunicorn.access", '"GET /e/annuler/%s HTTP/1.1" 200 -'),
        (app.logger.name, "Exception on /e/avis/%s [GET]"),
    ):
        record = logging.LogRecord(logger_name, logging.INFO, __file__, 1, line, (token,), None)
        logger = app.logger if logger_name == app.logger.name else logging.getLogger(logger_name)
        assert any(isinstance(f, MaskPersonalLinks) for f in logger.filters), logger_name
        MaskPersonalLinks().filter(record)
        assert token not in record.getMessage() and "JETON-PERSONNEL-MASQUE" in record.getMessage()


def test_the_current_password_cannot_be_guessed_from_a_borrowed_session(app, client, make_user):
    user = make_user("manager")
    login(client, user)
    limit = app.config["LOGIN_MAX_FAILURES_PER_EMAIL"]
    for attempt in range(limit):
        page = post(
            client,
            "/mon-compte/mot-de-passe",
            {
                "current_password": f"essai-{attempt}",
                "new_password": "nouveau-mot-de-passe",
                "confirmation": "nouveau-mot-de-passe",
            },
        )
        assert "Le mot de passe actuel est incorrect." in page.get_data(as_text=True)
    # Even the right password is refused now: the guesses are counted as failed logins are.
    page = post(client, "/mon-compte/jetons", {"days": "30", "current_password": PASSWORD})
    assert page.status_code == 429 and "Trop de tentatives" in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == limit
