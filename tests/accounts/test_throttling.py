"""Login: one hash check whatever the email, failures counted atomically, throttled per (email, address)
and per address."""

import threading

from sqlalchemy import func, select

from crm.accounts import models, services
from crm.accounts.models import LoginFailure
from crm.platform.extensions import db
from tests.conftest import PASSWORD, csrf_token


def _attempt(client, email, password, address):
    return client.post(
        "/connexion",
        data={"email": email, "password": password, "csrf_token": csrf_token(client)},
        environ_overrides={"REMOTE_ADDR": address},
    )


def _failures(**where) -> int:
    query = select(func.count()).select_from(LoginFailure)
    for column, value in where.items():
        query = query.where(getattr(LoginFailure, column) == value)
    return db.session.scalar(query)


def test_unknown_inactive_and_known_emails_cost_one_hash_check_each(client, make_user, monkeypatch):
    """The timing is equalised by doing the same work: the real hash check runs against a stand-in hash
    made the way real passwords are hashed (same algorithm and cost), not by sleeping."""
    from werkzeug import security

    checked = []

    def spy(password_hash, password):
        checked.append(password_hash)
        return security.check_password_hash(password_hash, password)

    # Wherever the accounts code calls it from: the service, or the model's check_password.
    monkeypatch.setattr(services, "check_password_hash", spy, raising=False)
    monkeypatch.setattr(models, "check_password_hash", spy)
    known = make_user("manager")
    inactive = make_user("manager", active=False)
    pages = {}
    for label, email, password in (
        ("known", known.email, "mauvais-mot"),
        ("unknown", "personne@example.org", PASSWORD),
        ("inactive", inactive.email, PASSWORD),
    ):
        checked.clear()
        response = _attempt(client, email, password, "10.1.0.1")
        assert response.status_code == 200
        pages[label] = response.get_data(as_text=True)
        assert len(checked) == 1, label
        if label == "unknown":
            assert checked[0] == services.dummy_password_hash()
            # Same method and cost parameters ("scrypt:32768:8:1") as a real password's hash.
            assert checked[0].split("$")[0] == known.password_hash.split("$")[0]
        else:
            assert checked[0] == (known if label == "known" else inactive).password_hash
    assert all("Adresse e-mail ou mot de passe incorrect." in page for page in pages.values())
    assert _failures() == 3  # each counted alike


def test_a_stranger_elsewhere_cannot_lock_a_user_out(client, make_user, app):
    user = make_user("manager")
    limit = app.config["LOGIN_MAX_FAILURES_PER_EMAIL"]
    for _ in range(limit):
        assert _attempt(client, user.email, "mauvais-mot", "203.0.113.9").status_code == 200
    # The attacker's address is throttled for this account, even with the right password...
    assert _attempt(client, user.email, PASSWORD, "203.0.113.9").status_code == 429
    assert _failures() == limit  # refused attempts are not counted again
    # ...but the user, from their own address, logs in.
    assert _attempt(app.test_client(), user.email, PASSWORD, "192.0.2.10").status_code == 302


def test_one_person_does_not_lock_the_office(client, make_user, app):
    office = "198.51.100.7"
    clumsy, colleague = make_user("manager"), make_user("manager")
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_EMAIL"] + 3):
        _attempt(client, clumsy.email, "mauvais-mot", office)
    assert _attempt(app.test_client(), colleague.email, PASSWORD, office).status_code == 302
    # A success clears this account's failures from this address only.
    _attempt(client, clumsy.email, "mauvais-mot", "192.0.2.99")
    db.session.execute(LoginFailure.__table__.delete().where(LoginFailure.remote_addr == office))
    db.session.commit()
    assert _attempt(client, clumsy.email, PASSWORD, office).status_code == 302
    assert _failures(email=clumsy.email, remote_addr="192.0.2.99") == 1


def test_one_address_is_throttled_whatever_the_emails(client, make_user, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_IP", 8)
    user = make_user("manager")
    for n in range(8):
        assert _attempt(client, f"essai{n}@example.org", "mauvais-mot", "203.0.113.50").status_code == 200
    assert _attempt(app.test_client(), user.email, PASSWORD, "203.0.113.50").status_code == 429
    assert _attempt(app.test_client(), user.email, PASSWORD, "203.0.113.51").status_code == 302


def test_concurrent_bad_attempts_store_exactly_the_limit(app, make_user):
    """30 bad attempts at once, each a real request in its own thread, app context and database session:
    exactly LOGIN_MAX_FAILURES_PER_EMAIL are let through to a password check and stored, the rest refused."""
    user = make_user("manager")
    limit = app.config["LOGIN_MAX_FAILURES_PER_EMAIL"]
    clients = [app.test_client() for _ in range(30)]
    tokens = [csrf_token(c) for c in clients]
    barrier = threading.Barrier(len(clients))
    statuses, errors = [], []

    def attempt(client, token):
        try:
            with app.app_context():
                barrier.wait()
                response = client.post(
                    "/connexion",
                    data={"email": user.email, "password": "mauvais-mot", "csrf_token": token},
                    environ_overrides={"REMOTE_ADDR": "203.0.113.77"},
                )
                statuses.append(response.status_code)
        except Exception as error:  # reported below: an assertion in a thread would be lost
            errors.append(repr(error))

    threads = [threading.Thread(target=attempt, args=pair) for pair in zip(clients, tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sorted(statuses) == [200] * limit + [429] * (len(clients) - limit)
    db.session.expire_all()
    assert _failures(email=user.email) == limit
