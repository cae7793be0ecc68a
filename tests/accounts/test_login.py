"""Login, throttling, CSRF, safe redirects, password hashing, API tokens, CLI."""

import subprocess
import sys

from crm.accounts.models import ApiToken, User
from crm.platform.extensions import db
from tests.conftest import PASSWORD, ROOT, csrf_token, login, post


def test_password_is_hashed(make_user):
    user = make_user("manager")
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert user.check_password(PASSWORD) and not user.check_password("autre-mot-de-passe")


def test_login_then_logout(client, make_user):
    user = make_user("manager")
    login(client, user)
    assert client.get("/structures").status_code == 200
    assert post(client, "/deconnexion").status_code == 302
    assert client.get("/structures").status_code == 302


def test_wrong_password_gives_a_french_message(client, make_user):
    user = make_user("manager")
    response = post(client, "/connexion", {"email": user.email, "password": "mauvais"})
    assert response.status_code == 200
    assert "Adresse e-mail ou mot de passe incorrect." in response.get_data(as_text=True)


def test_login_is_throttled_per_email(client, make_user, app):
    user = make_user("manager")
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_EMAIL"]):
        post(client, "/connexion", {"email": user.email, "password": "mauvais"})
    # Even the right password is refused while the account is throttled.
    response = post(client, "/connexion", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "Trop de tentatives" in response.get_data(as_text=True)


def test_login_form_without_csrf_token_is_refused(client, make_user):
    user = make_user("manager")
    response = client.post("/connexion", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/structures").status_code == 302


def test_forged_csrf_token_is_refused_on_a_write(client, make_user, make_structure):
    structure = make_structure()
    login(client, make_user("animateur", ["31"]))
    response = client.post(
        f"/structures/{structure.id}/modifier",
        data={"name": "Piratée", "department_code": "31", "csrf_token": "forged"},
    )
    assert response.status_code == 400
    assert "jeton de sécurité" in response.get_data(as_text=True)


def test_login_redirects_only_to_local_paths(client, make_user):
    user = make_user("manager")
    token = csrf_token(client)
    for target, expected in (
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/structures?q=ehpad", "/structures?q=ehpad"),
    ):
        response = client.post(
            f"/connexion?next={target}", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
        )
        assert response.headers["Location"] == expected
        post(client, "/deconnexion")
        token = csrf_token(client)


def test_security_headers(client):
    response = client.get("/connexion")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_api_token_authenticates_and_session_does_not(client, make_user):
    from crm.accounts.services import create_api_token

    user = make_user("animateur", ["31", "81"])
    token = create_api_token(user)
    stored = db.session.query(ApiToken).one()
    assert stored.token_hash != token and token.startswith(stored.prefix)
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json["departments"] == ["31", "81"]
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer forged"}).status_code == 401
    login(client, user)
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and response.is_json


def _flask(test_env, *args):
    import os

    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "crm", *args],
        cwd=ROOT,
        env={**os.environ, **test_env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_creates_users_and_tokens(test_env):
    result = _flask(
        test_env, "users", "create", "--email", "Anim@Example.org", "--role", "animateur", "--departments", "31,81"
    )
    assert result.returncode == 0, result.stderr
    assert "Mot de passe" in result.stdout
    db.session.expire_all()
    user = db.session.query(User).filter_by(email="anim@example.org").one()
    assert user.department_codes == {"31", "81"}
    bad = _flask(test_env, "users", "create", "--email", "x@example.org", "--role", "pirate")
    assert bad.returncode != 0 and "Rôle inconnu" in bad.stderr
    no_dep = _flask(
        test_env, "users", "create", "--email", "y@example.org", "--role", "animateur", "--departments", "99"
    )
    assert no_dep.returncode != 0 and "inconnu" in no_dep.stderr
    token = _flask(test_env, "token", "create", "--email", "anim@example.org")
    assert token.returncode == 0 and token.stdout.strip().startswith("mlg_")


def test_nul_byte_in_login_is_a_clear_400(client, make_user):
    response = post(client, "/connexion", {"email": "a\x00@x.org", "password": "x"})
    assert response.status_code == 400 and "octet nul" in response.get_data(as_text=True)


def test_session_is_not_shared_with_another_client(app, client, make_user):
    login(client, make_user("manager"))
    assert client.get("/structures").status_code == 200
    other = app.test_client()
    assert other.get("/structures").status_code == 302
