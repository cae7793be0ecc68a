"""Malformed bodies of many shapes sent to every POST and PATCH of the document: a JSON answer, never a 500.

The endpoints come from the OpenAPI document itself, so a new endpoint is fuzzed
as soon as it is declared. Every answer is also checked against the document.
"""

import json
import math

import pytest
from sqlalchemy import select

from crm.activities.services import log_activity
from crm.events import services as events
from crm.events.models import EventType
from crm.events.registration.registrations import register
from crm.pipeline import services as pipeline
from crm.platform.extensions import db
from crm.structures.contacts import save_contact
from crm.tasks.services import create_task
from tests.api.conformance import assert_conforms

WRONG_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**31,
    10**30,
    -(10**30),
    "",
    " ",
    "x" * 5000,
    "2024-13-45",
    "31",
    "<script>alert(1)</script>",
    "'; DROP TABLE structures; --",
    [],
    [1, 2],
    [None],
    [[1]],
    ["a"],
    [True],
    [10**30],
    list(range(1, 500)),
    {},
    {"a": 1},
    {"$gt": ""},
    "éàü€😀",
]
WHOLE_BODIES = [
    {},
    {"unknown": 1},
    {"": None},
    {"x" * 1000: "y"},
    {str(i): i for i in range(300)},
]


@pytest.fixture
def targets(make_user, make_structure, offer):
    """One existing record of each kind, for the paths' ids."""
    admin = make_user("admin")
    structure = make_structure(department_code="31")
    contact = save_contact(structure, None, {"last_name": "Roux"})
    opportunity = pipeline.create_opportunity(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Besoin"}, user=admin
    )
    task = create_task({"title": "Relance"}, user=admin)
    event = events.create_event(
        {
            "type_id": db.session.scalar(select(EventType.id)),
            "title": "Atelier",
            "starts_at": "2031-01-01T10:00",
            "ends_at": "2031-01-01T12:00",
            "online_url": "https://visio.example.fr",
        },
        user=admin,
    )
    events.publish_event(event, user=admin)
    registration, _ = register(
        event,
        {
            "first_name": "Ana",
            "last_name": "Roux",
            "email": "ana@x.fr",
            "structure_name": "CPTS",
            "department_code": "31",
        },
        source="api",
    )
    activity = log_activity({"kind": "visite", "structure_ids": [structure.id]}, user=admin)
    project = pipeline.create_project(
        {"structure_id": structure.id, "offer_id": offer.id, "title": "Projet"}, user=admin
    )
    milestone = pipeline.add_milestone(project, {"label": "Jalon"}, user=admin)
    return admin, {
        "structure_id": structure.id,
        "contact_id": contact.id,
        "opportunity_id": opportunity.id,
        "task_id": task.id,
        "event_id": event.id,
        "registration_id": registration.id,
        "activity_id": activity.id,
        "project_id": project.id,
        "milestone_id": milestone.id,
    }


def _write_operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                schema_name = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
                yield method.upper(), path, document["components"]["schemas"][schema_name]


def _check(response, method, url, body):
    status = response.status_code
    assert status < 500, (method, url, body, response.get_data(as_text=True)[:300])
    if status >= 400:
        error = response.get_json()["error"]
        assert error["status"] == status and isinstance(error["message"], str), (method, url, body)
        assert isinstance(error["fields"], dict)


def test_every_write_endpoint_survives_wrong_types(api_as, targets, openapi_document):
    admin, ids = targets
    api = api_as(user=admin)
    operations = list(_write_operations(openapi_document))
    assert len(operations) >= 7
    sent = 0
    for method, path, schema in operations:
        url = "/api/v1" + path.format(**ids)
        for body in WHOLE_BODIES:
            _check(api.request(method, url, json=body), method, url, body)
            sent += 1
        for field in schema["properties"]:
            for value in WRONG_VALUES:
                body = {field: value}
                _check(api.request(method, url, json=body), method, url, body)
                sent += 1
        everything_null = {field: None for field in schema["properties"]}
        _check(api.request(method, url, json=everything_null), method, url, everything_null)
        db.session.rollback()
    assert sent > 1000


def test_every_write_endpoint_survives_raw_garbage(api_as, targets, openapi_document):
    admin, ids = targets
    api = api_as(user=admin)
    raw = [
        b"{",
        b"nul",
        b"[1,2,3]",
        b'"x"',
        b"NaN",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e999}',
        b'{"a": ' + b"9" * 5000 + b"}",
        b"[" * 20000,
        b"\x00\x01\x02",
        json.dumps({"title": "a" * 100, "x": [{"y": [{}]}]}).encode(),
    ]
    for method, path, _ in _write_operations(openapi_document):
        url = "/api/v1" + path.format(**ids)
        for payload in raw:
            for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
                response = api.request(method, url, data=payload, content_type=content_type)
                _check(response, method, url, payload[:40])
                assert response.status_code in (400, 413, 422), (method, url, payload[:40], response.status_code)


LONE_SURROGATES = [b'"\\ud800"', b'"\\udfff"', b'"a\\ud83d"', b'["\\udc00"]', b'{"k": "\\ud800x"}']


def test_every_write_endpoint_refuses_lone_surrogates_with_a_400(api_as, targets, openapi_document):
    """JSON's "\\ud800" decodes to a lone surrogate no database or email can encode: 400 in French, was 500."""
    admin, ids = targets
    api = api_as(user=admin)
    sent = 0
    for method, path, schema in _write_operations(openapi_document):
        url = "/api/v1" + path.format(**ids)
        bodies = [
            b'{"' + field.encode() + b'": ' + value + b"}"
            for field in schema["properties"]
            for value in LONE_SURROGATES
        ]
        bodies.append(b'{"\\ud800": 1}')
        for payload in bodies:
            response = api.request(method, url, data=payload, content_type="application/json")
            assert response.status_code == 400, (method, url, payload, response.status_code)
            assert "demi-caractère Unicode isolé" in response.get_json()["error"]["message"]
            sent += 1
    response = api.request("GET", "/api/v1/structures", data=b'{"q": "\\ud800"}', content_type="application/json")
    assert response.status_code == 400
    assert sent > 100


def test_the_animator_sees_403_or_422_never_500(api_as, targets, openapi_document, make_structure):
    _, ids = targets
    api = api_as("animateur", ["34"])
    for method, path, schema in _write_operations(openapi_document):
        url = "/api/v1" + path.format(**ids)
        for field in schema["properties"]:
            for value in (None, "x", 10**30, [1], {"a": 1}, math.pi):
                _check(api.request(method, url, json={field: value}), method, url, {field: value})
    assert db.session.scalar(select(db.func.count()).select_from(db.metadata.tables["structures"])) == 1


# --- query strings -------------------------------------------------------------------------------------

WRONG_QUERY_VALUES = [
    "",
    " ",
    "0",
    "-1",
    "1.5",
    "2147483648",
    "9" * 30,
    "abc",
    "x" * 5000,
    "2024-13-45",
    "2024-02-30",
    "0001-01-01",
    "9999-12-31",
    "31",
    "2a",
    "<script>",
    "'; DROP TABLE opportunities; --",
    "éàü€😀",
    "\x00",
    "１２",
    "null",
    "[]",
    "1e5",
    "%",
]
RAW_QUERIES = [
    "%",
    "&&&=",
    "a=1&a=2",
    "page=1&page=x",
    "start=2024-01-01&start=garbage",
    "%ff%fe=1",
    "group_by=%00",
    "department=%C0%AF",
    "x=" + "y" * 8000,
    "start=2024-01-01&end=2023-01-01&group_by=",
]


def _read_operations(document):
    for path, item in document["paths"].items():
        operation = item.get("get")
        if operation and any(p["in"] == "query" for p in operation.get("parameters", [])):
            yield path, [p["name"] for p in operation["parameters"] if p["in"] == "query"]


def test_every_read_endpoint_survives_malformed_queries(api_as, targets, openapi_document):
    """Every GET with query parameters, each parameter given every wrong value: a JSON answer, never a 500."""
    admin, ids = targets
    api = api_as(user=admin)
    operations = list(_read_operations(openapi_document))
    assert any(path.startswith("/indicators/") for path, _ in operations)
    sent = 0
    for path, names in operations:
        url = "/api/v1" + path.format(**ids)
        for name in names:
            for value in WRONG_QUERY_VALUES:
                _check_read(api, _get(api, url, query_string={name: value}), url, f"{name}={value[:30]!r}")
                sent += 1
        everything = {name: "x" for name in names}
        _check_read(api, _get(api, url, query_string=everything), url, "all x")
        for raw in RAW_QUERIES:
            _check_read(api, _get(api, f"{url}?{raw}"), url, raw[:30])
            sent += 1
        db.session.rollback()
    assert sent > 1000


def _get(api, url, **kwargs):
    """Through the test client itself: ``ApiClient.get`` takes a URL, these queries need encoding."""
    return api.client.get(url, headers={"Authorization": f"Bearer {api.token}"}, **kwargs)


def _check_read(api, response, url, what):
    status = response.status_code
    assert status < 500, (url, what, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/json", (url, what)
    assert_conforms(api.document, "GET", url, status, response.get_json())
    if status >= 400:
        error = response.get_json()["error"]
        assert error["status"] == status and status in (400, 422), (url, what, error)
        assert isinstance(error["fields"], dict) and isinstance(error["message"], str)
