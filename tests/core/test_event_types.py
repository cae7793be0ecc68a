"""The catalogue of domain event types: documented, enforced at the write, and complete."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from crm.platform.event_types import EVENT_TYPES, UnknownEventType, require_known
from crm.platform.events import record_change

ROOT = Path(__file__).resolve().parents[2]
EVENT_NAME = re.compile(r"^[a-z_]+\.[a-z_]+$")


def test_every_type_is_documented():
    for name, event_type in EVENT_TYPES.items():
        assert EVENT_NAME.match(name), name
        assert event_type.meaning.strip(), f"{name} has no meaning"
        assert isinstance(event_type.fields, tuple) and event_type.fields or name == "test.nothing", name


def test_an_unknown_type_is_refused(app):
    with pytest.raises(UnknownEventType, match="registration.attendance_recorded"):
        require_known("registration.attendance_recorded")
    with pytest.raises(UnknownEventType):
        record_change(
            entity_type="structure",
            entity_id=1,
            action="update",
            changes=None,
            event_type="structure.renamed",
            payload={},
        )


def _writes_events(function: ast.AST) -> bool:
    """A function that writes outbox rows: ``event_type=`` passed, a ``{"type": ...}`` row, or a helper
    (``record_registration_change``, ``writer.record``) given an event type."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            if any(keyword.arg == "event_type" for keyword in node.keywords):
                return True
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in ("_record", "record", "record_registration_change") and any(
                isinstance(a, ast.Constant) and isinstance(a.value, str) and EVENT_NAME.match(a.value)
                for arg in node.args
                for a in ast.walk(arg)
            ):
                return True
        if isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "type" for k in node.keys):
            return True
    return False


def written_types() -> dict[str, str]:
    """Every dotted string literal inside a function that writes outbox rows, with where it is."""
    found: dict[str, str] = {}
    for path in [*ROOT.glob("crm/**/*.py"), *ROOT.glob("workflows/**/*.py")]:
        tree = ast.parse(path.read_text(), str(path))
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) or not _writes_events(function):
                continue
            # Endpoint names look like event types: ``url_for("structures.index")`` is not a write.
            endpoints = {
                id(node.args[0])
                for node in ast.walk(function)
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "url_for" and node.args
            }
            for node in ast.walk(function):
                if (
                    id(node) not in endpoints
                    and isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and EVENT_NAME.match(node.value)
                ):
                    found.setdefault(node.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_type_written_in_the_code_is_in_the_catalogue():
    found = written_types()
    assert len(found) >= 48, sorted(found)  # the scan still sees the writes
    unknown = {name: where for name, where in found.items() if name not in EVENT_TYPES}
    assert not unknown, unknown
