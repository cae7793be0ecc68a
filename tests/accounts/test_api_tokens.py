"""API tokens: expiry, last use, the CLI's list and revoke, the "Mes jetons d'API" page, revoked by a new password."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.accounts.models import ApiToken
from crm.accounts.services import AccountError, create_api_token
from crm.platform.extensions import db
from crm.platform.formatting import format_datetime
from crm.platform.models import AuditEntry, OutboxEvent, utcnow
from tests.accounts.test_login import _flask
from tests.conftest import PASSWORD, login, post


def _me(client, token):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def _naive(moment):
    return moment.replace(tzinfo=None)


def _row(token) -> ApiToken:
    db.session.expire_all()
    return db.session.scalars(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token))).one()


def test_token_expires_after_a_year_by_default_and_is_then_refused(client, make_user):
    user = make_user("manager")
    token = create_api_token(user)
    row = _row(token)
    assert abs(_naive(row.expires_at) - _naive(utcnow()) - timedelta(days=365)) < timedelta(minutes=1)
    assert _me(client, token) == 200
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert _me(client, token) == 401


def test_token_lifetime_is_bounded(make_user):
    user = make_user("manager")
    for days in (0, -3, 5000):
        with pytest.raises(AccountError, match="La durée d'un jeton"):
            create_api_token(user, days)
    assert db.session.scalars(select(ApiToken)).all() == []


def test_last_use_is_recorded_and_shown(client, make_user):
    user = make_user("manager")
    token = create_api_token(user)
    login(client, user)
    assert "Jamais utilisé" in client.get("/mon-compte/jetons").get_data(as_text=True)
    assert _me(client, token) == 200
    used = _row(token).last_used_at
    assert used is not None and abs(_naive(used) - _naive(utcnow())) < timedelta(minutes=1)
    assert format_datetime(used) in client.get("/mon-compte/jetons").get_data(as_text=True)
    # Written at most once a minute, not on every call.
    assert _me(client, token) == 200
    assert _row(token).last_used_at == used


def test_cli_creates_lists_and_revokes_tokens(test_env, client, make_user):
    user = make_user("manager", email="cli@example.org")
    other = make_user("manager", email="autre@example.org")
    other_token = create_api_token(other)
    created = _flask(test_env, "token", "create", "--email", "CLI@example.org", "--days", "30")
    assert created.returncode == 0, created.stderr
    first = created.stdout.strip()
    assert abs(_naive(_row(first).expires_at) - _naive(utcnow()) - timedelta(days=30)) < timedelta(minutes=1)
    second = _flask(test_env, "token", "create", "--email", "cli@example.org").stdout.strip()
    assert _me(client, first) == 200 and _me(client, second) == 200

    listed = _flask(test_env, "token", "list", "--email", "cli@example.org")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 2 and all("actif" in line for line in lines)
    assert {line.split("\t")[1] for line in lines} == {first[:10] + "…", second[:10] + "…"}
    assert "dernière utilisation : " in lines[0] and "jamais" not in lines[0]  # second was used above

    first_id = _row(first).id
    assert _flask(test_env, "token", "revoke", str(_row(other_token).id), "--email", "cli@example.org").returncode != 0
    revoked = _flask(test_env, "token", "revoke", str(first_id), "--email", "cli@example.org")
    assert revoked.returncode == 0 and "Jetons révoqués : 1" in revoked.stdout
    assert _me(client, first) == 401 and _me(client, second) == 200 and _me(client, other_token) == 200
    assert "révoqué" in _flask(test_env, "token", "list", "--email", "cli@example.org").stdout

    everything = _flask(test_env, "token", "revoke", "--all", "--email", "cli@example.org")
    assert everything.returncode == 0 and "Jetons révoqués : 1" in everything.stdout
    assert _me(client, second) == 401 and _me(client, other_token) == 200

    neither = _flask(test_env, "token", "revoke", "--email", "cli@example.org")
    assert neither.returncode != 0 and "--all" in neither.stderr
    bad_days = _flask(test_env, "token", "create", "--email", "cli@example.org", "--days", "0")
    assert bad_days.returncode != 0 and "La durée d'un jeton" in bad_days.stderr
    db.session.expire_all()
    audit = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_id == user.id, AuditEntry.action == "token")
    ).all()
    assert len(audit) == 4 and all(entry.origin == "cli" for entry in audit)
    assert (
        db.session.scalar(
            select(db.func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "api_token.revoked")
        )
        == 2
    )


def _created_token(html: str) -> str:
    match = re.search(r'<code class="token-value">(mlg_[^<]+)</code>', html)
    assert match, html[:2000]
    return match.group(1)


def test_page_creates_lists_and_revokes_own_tokens(client, make_user):
    user = make_user("animateur", ["31"])
    someone_else = create_api_token(make_user("manager"))
    login(client, user)
    page = client.get("/mon-compte/jetons")
    assert page.status_code == 200 and "Aucun jeton." in page.get_data(as_text=True)

    # A token outlives the session: creating one asks for the password again.
    refused = post(client, "/mon-compte/jetons", {"days": "90", "current_password": "pas-le-bon"})
    assert "Le mot de passe actuel est incorrect." in refused.get_data(as_text=True)
    assert db.session.scalars(select(ApiToken)).all() == [_row(someone_else)]
    response = post(client, "/mon-compte/jetons", {"days": "90", "current_password": PASSWORD})
    assert response.status_code == 200
    token = _created_token(response.get_data(as_text=True))
    assert _me(client, token) == 200
    assert abs(_naive(_row(token).expires_at) - _naive(utcnow()) - timedelta(days=90)) < timedelta(minutes=1)
    listing = client.get("/mon-compte/jetons").get_data(as_text=True)
    assert token[:10] in listing and token not in listing  # the clear value is shown once only
    assert someone_else[:10] not in listing

    token_id = _row(token).id
    assert client.post(f"/mon-compte/jetons/{token_id}/revoquer").status_code == 400  # no CSRF token
    assert _me(client, token) == 200
    response = post(client, f"/mon-compte/jetons/{token_id}/revoquer")
    assert response.status_code == 302
    assert _me(client, token) == 401
    assert "Révoqué le" in client.get("/mon-compte/jetons").get_data(as_text=True)


def test_page_refuses_forged_requests_and_others_tokens(client, make_user):
    other_token = create_api_token(make_user("manager"))
    login(client, make_user("animateur", ["31"]))
    assert client.post("/mon-compte/jetons", data={"days": "30", "current_password": PASSWORD}).status_code == 400
    assert post(client, "/mon-compte/jetons", {"days": "7", "current_password": PASSWORD}).status_code == 200
    assert db.session.scalars(select(ApiToken)).all() == [_row(other_token)]
    assert post(client, f"/mon-compte/jetons/{_row(other_token).id}/revoquer").status_code == 404
    assert post(client, "/mon-compte/jetons/2147483648/revoquer").status_code == 404
    assert _me(client, other_token) == 200


def test_page_needs_a_login(client):
    assert client.get("/mon-compte/jetons").status_code == 302


def test_own_password_change_revokes_every_token(client, make_user):
    user = make_user("manager")
    tokens = [create_api_token(user), create_api_token(user)]
    login(client, user)
    post(
        client,
        "/mon-compte/mot-de-passe",
        {"current_password": PASSWORD, "new_password": "nouveau-mot-de-passe", "confirmation": "nouveau-mot-de-passe"},
    )
    assert [_me(client, token) for token in tokens] == [401, 401]


def test_password_reset_by_an_admin_revokes_every_token(app, client, make_user):
    user = make_user("animateur", ["31"])
    token = create_api_token(user)
    login(client, make_user("admin"))
    post(
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
    assert _me(client, token) == 401
    # Saving the account without a new password leaves the tokens alone.
    fresh = create_api_token(user)
    post(
        client,
        f"/admin/utilisateurs/{user.id}",
        {"email": user.email, "role": "animateur", "departments": ["31"], "first_name": "Renommé", "active": "y"},
    )
    assert _me(client, fresh) == 200
