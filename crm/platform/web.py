"""What every blueprint's routes do the same way: read query arguments, find a record or 404, show a
service's refusal on its form."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, request

from crm.platform.extensions import db
from crm.platform.validation import MAX_ID, ValidationFailed


def int_arg(name: str, default: int | None = None, maximum: int = MAX_ID, *, minimum: int = 1) -> int | None:
    """The query argument ``name`` as an integer within bounds (an id by default), else ``default``."""
    try:
        value = int(request.args.get(name, ""))
    except ValueError:
        return default
    return value if minimum <= value <= maximum else default


def list_page(list_function, *args, **kwargs):
    """A list's page from the query string (``page``, or the cursor ``apres`` of a "Suivante" link),
    and the message of a link that could not be served (its first page is shown under it)."""
    from crm.platform.paging import CursorError, PageTooDeep

    try:
        return list_function(
            *args, page=int_arg("page", 1, maximum=1_000_000), cursor=request.args.get("apres") or None, **kwargs
        ), None
    except (CursorError, PageTooDeep) as error:
        return list_function(*args, **kwargs), error.message


def date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat((request.args.get(name) or "")[:10])
    except ValueError:
        return None


def department_arg() -> str | None:
    return (request.args.get("departement") or "").strip()[:3] or None


def get_or_404(model, ident: int):
    obj = db.session.get(model, ident) if ident <= MAX_ID else None
    if obj is None:
        abort(404)
    return obj


def apply_errors(
    form, errors: ValidationFailed | dict, *, aliases: dict[str, str] | None = None, flash_others: bool = True
) -> None:
    """Show each refusal on its form field (``aliases``: the service's name of a field -> the form's).

    The others (no such field) are flashed, or, with ``flash_others=False``, listed in the form's own
    errors (the public pages, which show no flashed messages).
    """
    if isinstance(errors, ValidationFailed):
        errors = errors.errors
    for name, message in errors.items():
        field = form._fields.get((aliases or {}).get(name, name))
        if field is not None and name != "csrf_token":
            field.errors = list(field.errors) + [message]
        elif flash_others:
            flash(message, "error")
        else:
            form.form_errors.append(message)


def form_data(form, exclude=("csrf_token", "version")) -> dict:
    return {name: f.data for name, f in form._fields.items() if name not in exclude}


def version_of(form) -> int | None:
    value = str(form.version.data or "")
    return int(value) if value.isdigit() and len(value) < 10 else None
