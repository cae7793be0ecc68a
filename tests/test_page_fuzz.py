"""Every page answers malformed input with a 4xx, never a 5xx: the URL map is walked, as in test_route_guard.

The API's own fuzzing (every declared body and query parameter) is tests/api/test_fuzz.py; this is the
pages' side: forms with line breaks, IP-literal emails, out-of-range ids, undecodable bytes; JSON
with lone surrogates and NULs; bodies beyond the limit; malformed query strings.
"""

from __future__ import annotations

import io

import pytest

from tests.conftest import csrf_token, login
from tests.test_route_guard import _routes, _url, records  # noqa: F401  (records is a fixture)

MALFORMED_FORM = {
    "title": "Titre\r\nBcc: tous@x.fr",
    "name": "Nom\nsur deux lignes",
    "first_name": "A\u2028B",
    "last_name": "x" * 5000,
    "email": "x@[127.0.0.1]",
    "subject": "\r\n",
    "label": "\n",
    "structure_id": "9" * 30,
    "structure_ids": "abc",
    "offer_id": "-1",
    "owner_id": "1.5",
    "occurred_on": "2024-13-45",
    "due_on": "0000-00-00",
    "starts_at": "demain",
    "capacity": "1e9",
    "status": "n'importe",
    "stage": "<script>",
    "department_code": "99",
    "page": "-3",
}
RAW_BODIES = [
    ("application/x-www-form-urlencoded", b"title=%ED%A0%80&name=%C0%AF&email=%FF%FE&csrf_token=%00"),
    ("application/x-www-form-urlencoded", b"&&&===&%"),
    ("application/json", b'{"title": "\\ud800", "name": ["\\udfff"]}'),
    ("application/json", b'{"title": "\\u0000"}'),
    ("application/json", b"[" * 5000),
    ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n--y--'),
    ("text/plain", b"\xff\xfe\x00garbage"),
]
QUERIES = [
    "?page=%ED%A0%80",
    "?q=%00",
    "?page=99999999999999999999",
    "?statut=%C0%AF&departement=" + "9" * 500,
    "?debut=2024-13-45&fin=garbage",
    "?" + "a=1&" * 2000,
]
BIG = b"x" * (3 * 1024 * 1024)
SKIPPED = {"accounts.logout", "static"}  # logging out would end the walk; static files read no input


def _walk(app, client, records, *, public_only: bool) -> int:
    from tests.test_route_guard import PUBLIC

    token = csrf_token(client)
    sent = 0
    for rule, method in _routes(app):
        if rule.endpoint in SKIPPED or rule.rule.startswith("/api/") or (public_only and rule.endpoint not in PUBLIC):
            continue
        url = _url(app, rule, records)
        headers = {"X-CSRFToken": token}
        if method == "GET":
            for query in QUERIES:
                response = client.get(url + query)
                assert response.status_code < 500, (method, url + query, response.status_code)
                sent += 1
            continue
        attempts = [
            {"data": {"csrf_token": token, **MALFORMED_FORM}},
            {
                "data": {"csrf_token": token, "file": (io.BytesIO(BIG), "gros.csv")},
                "content_type": "multipart/form-data",
            },
        ]
        attempts += [{"data": body, "content_type": content_type} for content_type, body in RAW_BODIES]
        for attempt in attempts:
            response = client.open(url, method=method, headers=headers, **attempt)
            where = (method, url, str(attempt.get("content_type")), response.status_code)
            assert response.status_code < 500, where
            sent += 1
    return sent


def test_public_pages_answer_malformed_input_with_4xx(app, client, records):
    assert _walk(app, client, records, public_only=True) > 40


@pytest.mark.parametrize("role", ["admin", "organisateur"])
def test_every_page_answers_malformed_input_with_4xx(app, client, make_user, records, role):
    login(client, make_user(role, ["31"] if role == "animateur" else []))
    assert _walk(app, client, records, public_only=False) > 400
