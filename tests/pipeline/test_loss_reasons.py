"""Loss reasons: an admin edits the list; only active reasons are offered."""

from sqlalchemy import select

from crm.pipeline.models import LossReason
from crm.platform.extensions import db
from tests.conftest import login, post


def test_admin_adds_and_deactivates_a_reason(client, make_user, make_structure, make_opportunity):
    login(client, make_user("admin"))
    assert "Pas de besoin confirmé" in client.get("/admin/referentiels/raisons").get_data(as_text=True)
    response = post(client, "/admin/referentiels/raisons/nouveau", {"label": "Fusion de structures", "active": "y"})
    assert response.status_code == 302
    reason = db.session.scalars(select(LossReason).where(LossReason.label == "Fusion de structures")).one()
    animator = make_user("animateur", ["31"])
    make_opportunity(make_structure(), animator)
    assert "Fusion de structures" in client.get("/pipeline").get_data(as_text=True)
    response = post(client, f"/admin/referentiels/raisons/{reason.id}", {"label": "Fusion de structures"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(LossReason, reason.id).active is False
    assert "Fusion de structures" not in client.get("/pipeline").get_data(as_text=True)


def test_duplicate_reason_is_refused_in_french(client, make_user):
    login(client, make_user("admin"))
    response = post(client, "/admin/referentiels/raisons/nouveau", {"label": "Doublon", "active": "y"})
    assert response.status_code == 200 and "existe déjà" in response.get_data(as_text=True)


def test_only_admins_edit_reasons(client, make_user):
    login(client, make_user("animateur", ["31"]))
    assert client.get("/admin/referentiels/raisons").status_code == 403
    assert post(client, "/admin/referentiels/raisons/nouveau", {"label": "X"}).status_code == 403
