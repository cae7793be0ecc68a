"""API test fixtures: token-authenticated clients whose every response is checked against the document."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.platform.extensions import db
from tests.api.conformance import assert_conforms


class ApiClient:
    """The Flask test client with a bearer token; each answer must be JSON and conform to the OpenAPI document."""

    def __init__(self, client, token: str | None, document: dict, user=None):
        self.client, self.token, self.document, self.user = client, token, document, user

    def request(
        self,
        method: str,
        url: str,
        *,
        json=None,
        data=None,
        headers=None,
        content_type=None,
        token: str | None = "",
        check: bool = True,
    ):
        token = self.token if token == "" else token
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kwargs = {"headers": headers}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        if content_type is not None:
            kwargs["content_type"] = content_type
        response = self.client.open(url, method=method, **kwargs)
        assert response.mimetype == "application/json", (response.status_code, response.get_data(as_text=True)[:300])
        assert response.status_code < 500, response.get_data(as_text=True)[:500]
        if check:
            assert_conforms(self.document, method, url, response.status_code, response.get_json())
        return response

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, json=None, **kwargs):
        return self.request("POST", url, json=json, **kwargs)

    def patch(self, url, json=None, **kwargs):
        return self.request("PATCH", url, json=json, **kwargs)


@pytest.fixture(scope="session")
def openapi_document(app):
    """The document as served (no token needed), once per session."""
    with app.app_context():
        response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


@pytest.fixture
def api_as(client, make_user, openapi_document):
    """``api_as("animateur", ["31"])``: a new user of that role and an API client holding its token."""
    from crm.accounts.services import create_api_token

    def make(role="animateur", departments=None, user=None):
        user = user or make_user(role, departments)
        return ApiClient(client, create_api_token(user), openapi_document, user)

    return make


@pytest.fixture
def anonymous(client, openapi_document):
    return ApiClient(client, None, openapi_document)


@pytest.fixture
def animator_api(api_as):
    return api_as("animateur", ["31"])


@pytest.fixture
def offer():
    from crm.referential.models import Offer

    return db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()


@pytest.fixture
def reason():
    from crm.pipeline.models import LossReason

    return db.session.scalars(select(LossReason).order_by(LossReason.id)).first()


@pytest.fixture
def own_and_other(make_structure):
    """A structure in Haute-Garonne (31, the animator's) and one in Hérault (34, not theirs)."""
    return (
        make_structure(name="EHPAD Les Tilleuls", department_code="31"),
        make_structure(name="CH de Béziers", department_code="34", commune="Béziers"),
    )
