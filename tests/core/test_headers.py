"""Security headers: HSTS in production only; nothing a signed-in user is shown is kept by a cache."""

from __future__ import annotations

from crm.accounts.services import create_api_token
from crm.platform.extensions import db
from tests.conftest import login
from tests.events.conftest import event_type, make_event, organiser  # noqa: F401  (fixtures)


def test_authenticated_pages_exports_and_api_answers_are_not_stored(client, make_user, make_event):
    event = make_event(title="Webinaire Pro Santé Connect")
    user = make_user("admin")
    token = create_api_token(user)
    db.session.commit()
    login(client, user)
    assert client.get("/").status_code == 302  # to the user's start page
    for url in (
        "/",
        "/structures",
        f"/evenements/{event.id}",
        f"/evenements/{event.id}.ics",
        "/indicateurs/export/participation.csv",
        "/admin/emails/",
        f"/e/{event.slug}",
    ):
        response = client.get(url)
        assert response.status_code in (200, 302), (url, response.status_code)
        assert response.headers.get("Cache-Control") == "no-store", url
    assert client.get("/static/css/app.css").headers.get("Cache-Control") != "no-store"
    client.get("/static/css/app.css").close()
    api = client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and api.headers["Cache-Control"] == "no-store"


def test_public_pages_and_static_files_stay_cacheable(client, make_event):
    event = make_event()
    for url in (f"/e/{event.slug}", "/calendrier/evenements.ics", "/static/css/app.css", "/connexion"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" not in response.headers.get("Cache-Control", ""), url
        response.close()
    assert client.get("/calendrier/evenements.ics").headers["Cache-Control"] == "public, max-age=300"


def test_hsts_only_in_production(app, client):
    assert "Strict-Transport-Security" not in client.get("/connexion").headers
    app.config["CRM_ENV"] = "production"
    try:
        response = client.get("/connexion")
    finally:
        app.config["CRM_ENV"] = "test"
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
