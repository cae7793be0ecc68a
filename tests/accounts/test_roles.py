"""Role rules, enforced on the server: one case per rule, allowed and refused."""

import pytest

from crm.platform.extensions import db
from crm.structures.models import Contact, Structure
from tests.conftest import login, post

ALL_ROLES = ("animateur", "organisateur", "manager", "admin")


@pytest.fixture
def structures(make_structure):
    """One structure in Haute-Garonne (31, the animator's) and one in Hérault (34, not theirs)."""
    own = make_structure(name="EHPAD Les Tilleuls", department_code="31")
    other = make_structure(name="CH de Béziers", department_code="34")
    return own, other


def _as(client, make_user, role):
    user = make_user(role, ["31"] if role == "animateur" else [])
    login(client, user)
    return user


def test_anonymous_is_sent_to_login(client, structures):
    own, _ = structures
    for url in ("/structures", f"/structures/{own.id}", "/admin/", "/admin/imports"):
        response = client.get(url)
        assert response.status_code == 302 and "/connexion" in response.headers["Location"]
    assert client.get("/structures/autocomplete?q=ehpad").status_code == 302


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_role_reads_every_structure(client, make_user, structures, role):
    _as(client, make_user, role)
    own, other = structures
    assert client.get("/structures").status_code == 200
    assert client.get(f"/structures/{other.id}").status_code == 200
    assert client.get("/structures/autocomplete?q=tilleuls").json[0]["id"] == own.id


@pytest.mark.parametrize("role,expected", [("animateur", 200), ("admin", 200), ("organisateur", 403), ("manager", 403)])
def test_who_may_open_the_create_form(client, make_user, role, expected):
    _as(client, make_user, role)
    assert client.get("/structures/nouvelle").status_code == expected


@pytest.mark.parametrize("role", ["organisateur", "manager"])
def test_readers_cannot_create_by_posting(client, make_user, role):
    _as(client, make_user, role)
    response = post(client, "/structures/nouvelle", {"name": "Forcée", "department_code": "31"})
    assert response.status_code == 403
    assert db.session.query(Structure).count() == 0


def test_animator_creates_only_in_own_departments(client, make_user):
    _as(client, make_user, "animateur")
    refused = post(client, "/structures/nouvelle", {"name": "Hors zone", "department_code": "34"})
    assert refused.status_code == 422
    assert "dans vos départements" in refused.get_data(as_text=True)
    accepted = post(client, "/structures/nouvelle", {"name": "MSP du Comminges", "department_code": "31"})
    assert accepted.status_code == 302
    assert db.session.query(Structure).filter_by(name="MSP du Comminges").count() == 1
    assert db.session.query(Structure).filter_by(name="Hors zone").count() == 0


@pytest.mark.parametrize(
    "role,own_status,other_status",
    [("animateur", 200, 403), ("admin", 200, 200), ("organisateur", 403, 403), ("manager", 403, 403)],
)
def test_who_may_edit(client, make_user, structures, role, own_status, other_status):
    _as(client, make_user, role)
    own, other = structures
    assert client.get(f"/structures/{own.id}/modifier").status_code == own_status
    assert client.get(f"/structures/{other.id}/modifier").status_code == other_status
    response = post(
        client,
        f"/structures/{other.id}/modifier",
        {"name": "Renommée", "department_code": "34", "version": other.version},
    )
    assert response.status_code == (302 if other_status == 200 else 403)
    db.session.expire_all()
    assert (db.session.get(Structure, other.id).name == "Renommée") == (other_status == 200)


def test_animator_cannot_move_a_structure_out_of_their_departments(client, make_user, structures):
    _as(client, make_user, "animateur")
    own, _ = structures
    response = post(
        client, f"/structures/{own.id}/modifier", {"name": own.name, "department_code": "34", "version": own.version}
    )
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Structure, own.id).department_code == "31"


@pytest.mark.parametrize("role,expected", [("admin", 302), ("animateur", 403), ("organisateur", 403), ("manager", 403)])
def test_only_admin_deletes_structures(client, make_user, structures, role, expected):
    _as(client, make_user, role)
    own_id = structures[0].id
    assert post(client, f"/structures/{own_id}/supprimer").status_code == expected
    assert (db.session.get(Structure, own_id) is None) == (expected == 302)


@pytest.mark.parametrize(
    "role,own_status,other_status",
    [("animateur", 302, 403), ("admin", 302, 302), ("organisateur", 403, 403), ("manager", 403, 403)],
)
def test_who_may_write_contacts(client, make_user, structures, role, own_status, other_status):
    _as(client, make_user, role)
    own, other = structures
    for structure, expected in ((own, own_status), (other, other_status)):
        response = post(
            client,
            f"/structures/{structure.id}/contacts/nouveau",
            {"last_name": "Durand", "email": "durand@example.org"},
        )
        assert response.status_code == expected
    assert db.session.query(Contact).count() == [own_status, other_status].count(302)


def test_animator_cannot_delete_or_erase_contacts_of_another_department(client, make_user, structures):
    from crm.structures.contacts import save_contact

    _, other = structures
    contact = save_contact(other, None, {"last_name": "Martin", "email": "martin@example.org"})
    _as(client, make_user, "animateur")
    assert post(client, f"/structures/{other.id}/contacts/{contact.id}/supprimer").status_code == 403
    assert post(client, f"/structures/{other.id}/contacts/{contact.id}/effacer").status_code == 403
    assert db.session.get(Contact, contact.id).email == "martin@example.org"


@pytest.mark.parametrize("role", ["animateur", "organisateur", "manager"])
def test_non_admins_cannot_start_or_relaunch_imports(client, make_user, role):
    import io

    from crm.structures.models import ImportRun

    _as(client, make_user, role)
    response = post(
        client,
        "/admin/imports",
        {"file": (io.BytesIO(b"finess;etalab;1;2024-01-01\n"), "f.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    assert post(client, "/admin/imports/1/relancer").status_code == 403
    assert db.session.query(ImportRun).count() == 0


@pytest.mark.parametrize("role", ["organisateur", "manager"])
def test_readers_cannot_delete_or_erase_contacts(client, make_user, structures, role):
    from crm.structures.contacts import save_contact

    own, _ = structures
    contact = save_contact(own, None, {"last_name": "Martin", "email": "martin@example.org"})
    _as(client, make_user, role)
    assert post(client, f"/structures/{own.id}/contacts/{contact.id}/supprimer").status_code == 403
    assert post(client, f"/structures/{own.id}/contacts/{contact.id}/effacer").status_code == 403
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).email == "martin@example.org"


ADMIN_PAGES = [
    "/admin/",
    "/admin/utilisateurs",
    "/admin/utilisateurs/nouveau",
    "/admin/imports",
    "/admin/referentiels/",
    "/admin/referentiels/programmes",
    "/admin/referentiels/finess/500",
]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_administration_is_for_admins_only(client, make_user, role):
    _as(client, make_user, role)
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == (200 if role == "admin" else 403), url
    if role != "admin":
        assert (
            post(client, "/admin/referentiels/secteurs/1", {"code": "x", "label": "x", "position": 1}).status_code
            == 403
        )
        assert (
            post(
                client,
                "/admin/utilisateurs/nouveau",
                {"email": "pirate@example.org", "role": "admin", "password": "0123456789abc"},
            ).status_code
            == 403
        )


def test_manager_sees_no_write_buttons(client, make_user, structures):
    _as(client, make_user, "manager")
    own, _ = structures
    html = client.get(f"/structures/{own.id}").get_data(as_text=True)
    assert "Modifier" not in html and "Ajouter un contact" not in html
    assert "Nouvelle structure" not in client.get("/structures").get_data(as_text=True)


def test_deactivated_account_loses_its_session(client, make_user):
    from crm.accounts.services import save_user

    user = _as(client, make_user, "manager")
    assert client.get("/structures").status_code == 200
    save_user(user, email=user.email, role="manager", active=False)
    assert client.get("/structures").status_code == 302
