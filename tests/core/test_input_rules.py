"""One email rule and one single-line rule for names and titles, in forms, the API, public pages and the CLI."""

import pytest
from sqlalchemy import func, select

from crm.accounts.models import User
from crm.events.models import Registration
from crm.platform.extensions import db
from crm.platform.validation import email_error
from crm.structures.models import Contact
from crm.tasks.models import Task
from tests.conftest import post
from tests.events.factories import make_event

BAD_EMAILS = {
    "x@[1.2.3.4]": "adresse IP",
    "x@[IPv6:::1]": "adresse IP",
    "x@192.168.1.10": "adresse IP",
    "x@y..fr": "point en trop",
    "x@.fr": "point en trop",
    "x@-y.fr": "tiret",
    "x@y-.fr": "tiret",
    "x@sous.-domaine.fr": "tiret",
    "jean dupont@x.fr": "Adresse e-mail invalide",
    "x@y.fr\r\nBcc: z@y.fr": "Adresse e-mail invalide",
    "é@ehpad.fr": "Adresse e-mail invalide",
    "x@localhost": "Adresse e-mail invalide",
}
GOOD_EMAILS = ["jean.dupont@ch-albi.fr", "J.Benazet@CH-Saint-Gaudens.fr", "a+b@ehpad-31.fr", "x@sous.domaine.fr"]


@pytest.mark.parametrize(("address", "reason"), BAD_EMAILS.items())
def test_email_rule_refuses_with_a_french_reason(address, reason):
    assert reason in email_error(address)


@pytest.mark.parametrize("address", GOOD_EMAILS)
def test_email_rule_accepts_ordinary_addresses(address):
    assert email_error(address) is None


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def public_form(**values):
    data = {
        "first_name": "Anne",
        "last_name": "Martin",
        "email": "anne@ehpad.fr",
        "structure_name": "EHPAD Les Lilas",
        "department_code": "31",
        "consent_contact": "y",
    }
    data.update(values)
    return data


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "x@[1.2.3.4]", "adresse IP"),
        ("email", "x@y..fr", "point en trop"),
        ("email", "x@-y.fr", "tiret"),
        ("first_name", "Anne\r\nBcc: tous@x.fr", "pas de retour à la ligne"),
        ("last_name", "Martin\n", None),
        ("structure_name", "EHPAD\u2028Lilas", "pas de retour à la ligne"),
    ],
)
def test_public_registration_refuses_bad_emails_and_line_breaks(client, field, value, message):
    event = make_event(days_ago=-10)
    response = post(client, f"/e/{event.slug}", public_form(**{field: value}))
    if message is None:  # a trailing newline is stripped like any surrounding space: accepted
        assert response.status_code == 302
        return
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _count(Registration) == 0


def test_forms_refuse_bad_emails_and_line_breaks(client, login_as, make_structure):
    login_as("admin")
    users = _count(User)
    for values, message in (
        ({"email": "agent@10.0.0.1"}, "adresse IP"),
        ({"first_name": "Jean\r\nBcc"}, "pas de retour à la ligne"),
    ):
        data = {
            "email": "agent@esante-occitanie.fr",
            "role": "manager",
            "password": "un-mot-de-passe-long",
            "active": "y",
            **values,
        }
        response = post(client, "/admin/utilisateurs/nouveau", data)
        assert message in response.get_data(as_text=True)
    assert _count(User) == users
    structure = make_structure(department_code="31")
    response = post(client, f"/structures/{structure.id}/contacts/nouveau", {"last_name": "Roux", "email": "r@-x.fr"})
    assert "tiret" in response.get_data(as_text=True)
    response = post(client, "/relances", {"title": "Rappeler\nl'EHPAD"})
    assert response.status_code == 422 and "pas de retour à la ligne" in response.get_data(as_text=True)
    assert _count(Contact) == 0 and _count(Task) == 0


def test_cli_refuses_an_ip_literal_account(app):
    result = app.test_cli_runner().invoke(
        args=[
            "crm",
            "users",
            "create",
            "--email",
            "admin@[127.0.0.1]",
            "--role",
            "admin",
            "--password",
            "un-mot-de-passe-long",
        ]
    )
    assert result.exit_code != 0 and "adresse IP" in result.output
    assert db.session.scalar(select(User).where(User.email == "admin@[127.0.0.1]")) is None
