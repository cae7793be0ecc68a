"""What several API modules answer the same way: a creation, a department filter."""

from __future__ import annotations

from flask import jsonify


def department_code(value) -> str | None:
    return value.strip().upper() if isinstance(value, str) and value.strip() else None


def created(payload: dict):
    """201 with the new record and its address in ``Location``."""
    return jsonify(payload), 201, {"Location": payload["url"]}
