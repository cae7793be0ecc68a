"""Parsing helpers shared by forms, the API and imports: clear French messages, never an exception."""
from __future__ import annotations

from datetime import date


class ValidationFailed(ValueError):
    """Refused input: ``errors`` maps each field to a French message."""

    def __init__(self, errors: dict[str, str], existing=None):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.existing = existing


MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger id is unknown, not a database error


def as_id(value) -> int | None:
    """A record id from a URL or form value (ASCII digits, within the integer range), else None."""
    value = str(value if value is not None else "").strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


def blank(value):
    if isinstance(value, str):
        value = value.strip()
    return value if value not in ("", None) else None


def parse_date(value, errors: dict, field: str, *, required: bool = False) -> date | None:
    value = blank(value)
    if value is None:
        if required:
            errors[field] = "La date est obligatoire."
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if len(str(value)) <= 10 else _bad(errors, field)
    except ValueError:
        return _bad(errors, field)


def _bad(errors: dict, field: str):
    errors[field] = "Date invalide (format attendu : AAAA-MM-JJ)."
    return None


def parse_int(value, errors: dict, field: str, *, minimum: int | None = None, maximum: int | None = None,
              required: bool = False, message: str = "Nombre entier attendu.") -> int | None:
    value = blank(value)
    if value is None:
        if required:
            errors[field] = "Ce champ est obligatoire."
        return None
    if isinstance(value, bool):
        errors[field] = message
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[field] = message
        return None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        errors[field] = f"Valeur attendue entre {minimum} et {maximum}."
        return None
    return number


MAX_IDS = 100  # no form or API call links more records at once


def parse_ids(values, errors: dict, field: str, *, max_items: int = MAX_IDS) -> list[int]:
    """A list of positive integer ids (from a multi-select or a JSON array), at most ``max_items``."""
    if values in (None, ""):
        return []
    if isinstance(values, (str, int)):
        values = [values]
    if not isinstance(values, (list, tuple)):
        errors[field] = "Liste d'identifiants attendue."
        return []
    if len(values) > max_items:
        errors[field] = f"Trop d'éléments ({max_items} au plus)."
        return []
    ids = []
    for value in values:
        number = parse_int(value, errors, field, minimum=1, maximum=2**31 - 1, message="Identifiant invalide.")
        if number is None:
            return []
        ids.append(number)
    return list(dict.fromkeys(ids))


def text(value, errors: dict, field: str, *, max_length: int, required: bool = False,
         message: str = "Ce champ est obligatoire.") -> str | None:
    value = blank(value)
    if value is not None and not isinstance(value, str):
        errors[field] = "Texte attendu."
        return None
    if value is None and required:
        errors[field] = message
    elif value is not None and len(value) > max_length:
        errors[field] = f"Pas plus de {max_length} caractères."
    return value
