"""API errors: always JSON with the right status (400, 401, 404, 405, 413), never HTML, never a 500."""

import json
import subprocess
import sys

import pytest
from openapi_spec_validator import validate

from crm.accounts.models import ApiToken
from crm.platform.extensions import db
from crm.platform.models import utcnow
from tests.conftest import login


def test_openapi_document_is_public_and_valid(anonymous, openapi_document):
    validate(openapi_document)
    response = anonymous.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.get_json() == openapi_document
    assert openapi_document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "Error" in openapi_document["components"]["schemas"]


def test_every_operation_declares_its_errors(openapi_document):
    for path, item in openapi_document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if path != "/openapi.json":
                assert "401" in responses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= set(responses), (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Bearer mlg_faux", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 5000, "bearer\u00e9"],
)
def test_missing_or_bad_token_is_401(anonymous, header):
    headers = {"Authorization": header} if header is not None else {}
    for method, url in (("GET", "/api/v1/structures"), ("POST", "/api/v1/activities"), ("GET", "/api/v1/me")):
        response = anonymous.request(method, url, headers=headers, json={} if method == "POST" else None)
        assert response.status_code == 401
        error = response.get_json()["error"]
        assert error["status"] == 401 and "Bearer" in error["message"] and error["fields"] == {}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_and_inactive_user_are_401(api_as, make_user):
    api = api_as("animateur", ["31"])
    assert api.get("/api/v1/me").get_json()["departments"] == ["31"]
    db.session.query(ApiToken).update({"revoked_at": utcnow()})
    db.session.commit()
    assert api.get("/api/v1/me").status_code == 401
    other = api_as("admin")
    other.user.active = False
    db.session.commit()
    assert other.get("/api/v1/me").status_code == 401


def test_a_new_worker_authenticates_its_very_first_call(make_user):
    """A gunicorn worker's first request may look its token up before any ORM query has run."""
    from crm.accounts.services import create_api_token

    token = create_api_token(make_user("animateur", ["31", "81"]))
    script = (
        "import json, sys; from crm import create_app; "
        "headers = {'Authorization': 'Bearer ' + sys.argv[1]}; "
        "response = create_app().test_client().get('/api/v1/me', headers=headers); "
        "print(json.dumps([response.status_code, response.get_json()]))"
    )
    done = subprocess.run([sys.executable, "-c", script, token], capture_output=True, text=True, timeout=120)
    status, body = json.loads(done.stdout.strip().splitlines()[-1])
    assert status == 200 and body["departments"] == ["31", "81"], done.stderr[-2000:]


def test_a_browser_session_is_not_enough(client, make_user, anonymous, api_as):
    user = make_user("admin")
    login(client, user)
    assert anonymous.get("/api/v1/structures").status_code == 401
    # The API neither reads the session cookie nor sets one, even to the browser that sent it.
    response = api_as(user=user).get("/api/v1/me")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    "url",
    ["/api/v1/nothing", "/api/v2/structures", "/api/v1/structures/abc", "/api/v1/structures/99999999999", "/api/"],
)
def test_unknown_api_routes_are_json_404(animator_api, url):
    response = animator_api.get(url, check=False)
    assert response.status_code == 404
    assert response.get_json()["error"] == {"status": 404, "message": "Ressource introuvable.", "fields": {}}


def test_wrong_method_is_json_405(animator_api, make_structure):
    structure = make_structure()
    response = animator_api.request("DELETE", f"/api/v1/structures/{structure.id}", check=False)
    assert response.status_code == 405 and response.get_json()["error"]["status"] == 405
    assert "PATCH" in response.headers["Allow"]
    assert animator_api.request("PUT", "/api/v1/tasks", check=False).status_code == 405


BAD_BODIES = [
    (b"{", "application/json"),
    (b'{"name": "x",}', "application/json"),
    (b"", "application/json"),
    (b"\xff\xfe\x00", "application/json"),
    (b"[" * 100000, "application/json"),
    (b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"),
    (b'{"a":' * 950 + b"1" + b"}" * 950, "application/json"),
    (b"[]", "application/json"),
    (b"null", "application/json"),
    (b"42", "application/json"),
    (b'"texte"', "application/json"),
    (b"name=x&department_code=31", "application/x-www-form-urlencoded"),
    (b'{"name": "x"}', "text/plain"),
    (b'{"name": "x"}', None),
    (b'{"name": "a\\u0000b", "department_code": "31"}', "application/json"),
]


@pytest.mark.parametrize("payload,content_type", BAD_BODIES)
def test_malformed_bodies_are_400(api_as, payload, content_type):
    api = api_as("admin")
    response = api.post("/api/v1/structures", data=payload, content_type=content_type)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["status"] == 400


def test_huge_body_is_413(api_as, anonymous):
    api = api_as("admin")
    big = b'{"name": "' + b"x" * (10 * 1024 * 1024) + b'", "department_code": "31"}'
    for client in (api, anonymous):
        response = client.post("/api/v1/structures", data=big, content_type="application/json")
        assert response.status_code == 413
        assert response.get_json()["error"]["status"] == 413


def test_bad_query_parameters_are_400(animator_api):
    for query in (
        "page=0",
        "page=-1",
        "page=abc",
        "per_page=201",
        "per_page=0",
        "page=99999999999",
        "status=toutes&sector=0",
        "q=" + "x" * 300,
        "category=1.5",
    ):
        response = animator_api.get("/api/v1/structures?" + query)
        assert response.status_code == 400, query
        assert response.get_json()["error"]["fields"], query
    assert animator_api.get("/api/v1/opportunities?start=2024-02-30").status_code == 400
    assert animator_api.get("/api/v1/tasks?status=late").status_code == 400


def test_a_page_past_the_end_is_empty_with_a_link_back(animator_api, make_structure):
    make_structure()
    body = animator_api.get("/api/v1/structures?page=5").get_json()
    assert body["data"] == [] and body["links"]["next"] is None and "page=1" in body["links"]["prev"]
