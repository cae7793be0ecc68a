"""Checking real API responses against the OpenAPI document the API itself publishes."""

from __future__ import annotations

import re
from datetime import date, datetime

from jsonschema import Draft202012Validator, FormatChecker

FORMATS = FormatChecker()


@FORMATS.checks("date", raises=ValueError)
def _is_date(value) -> bool:
    return not isinstance(value, str) or (len(value) == 10 and date.fromisoformat(value) is not None)


@FORMATS.checks("date-time", raises=ValueError)
def _is_timestamp(value) -> bool:
    # Full ISO 8601 with an offset: a naive timestamp would be ambiguous.
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


def find_operation(document: dict, method: str, path: str) -> tuple[str, dict] | None:
    """The (template, operation) of the document serving ``method path`` (path under the server URL)."""
    prefix = document["servers"][0]["url"]
    if not path.startswith(prefix):
        return None
    local = path[len(prefix) :].split("?", 1)[0]
    for template, item in document["paths"].items():
        pattern = "^" + re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(template)) + "$"
        if re.match(pattern, local) and method.lower() in item:
            return template, item[method.lower()]
    return None


def response_schema(document: dict, method: str, path: str, status: int) -> dict:
    found = find_operation(document, method, path)
    assert found, f"{method} {path} is not in the OpenAPI document"
    template, operation = found
    responses = operation["responses"]
    assert str(status) in responses, (
        f"{method} {template} answered {status}, which the document does not declare ({sorted(responses)})"
    )
    return responses[str(status)]["content"]["application/json"]["schema"]


def assert_conforms(document: dict, method: str, path: str, status: int, body) -> None:
    """Validate ``body`` against the schema declared for this path, method and status ($ref resolved)."""
    schema = {**response_schema(document, method, path, status), "components": document["components"]}
    errors = sorted(Draft202012Validator(schema, format_checker=FORMATS).iter_errors(body), key=str)
    assert not errors, f"{method} {path} -> {status}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
    )
