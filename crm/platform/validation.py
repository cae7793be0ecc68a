"""Parsing helpers shared by forms, the API and imports: clear French messages, never an exception."""

from __future__ import annotations

import re
from datetime import date

from email_validator import EmailNotValidError, validate_email


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


def parse_int(
    value,
    errors: dict,
    field: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    required: bool = False,
    message: str = "Nombre entier attendu.",
) -> int | None:
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


# Every character str.splitlines() breaks on: a name or title holding one breaks an email header
# (the subject, the recipient's name) and the line-based formats (CSV exports, .ics).
_LINE_BREAK = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
LINE_BREAK_MESSAGE = "Ce champ doit tenir sur une ligne (pas de retour à la ligne)."


def line_break_error(value) -> str | None:
    """The French message for a name or title holding a line break, else None."""
    return LINE_BREAK_MESSAGE if isinstance(value, str) and _LINE_BREAK.search(value) else None


def text(
    value,
    errors: dict,
    field: str,
    *,
    max_length: int,
    required: bool = False,
    message: str = "Ce champ est obligatoire.",
    one_line: bool = False,
) -> str | None:
    """A stripped text or None; ``one_line`` for names and titles (see :func:`line_break_error`)."""
    value = blank(value)
    if value is not None and not isinstance(value, str):
        errors[field] = "Texte attendu."
        return None
    if value is None and required:
        errors[field] = message
    elif value is not None and len(value) > max_length:
        errors[field] = f"Pas plus de {max_length} caractères."
    elif one_line and (error := line_break_error(value)):
        errors[field] = error
    return value


EMAIL_MESSAGE = "Adresse e-mail invalide (exemple : prenom.nom@structure.fr)."


def email_error(value: str) -> str | None:
    """Why ``value`` is not an address we can send to (a French message), or None.

    The one rule for every form, the API, public registration and imports: a domain name (not
    an IP address), no empty label (``x@y..fr``), no label starting or ending with a hyphen, an
    ASCII local part (any SMTP server relays it), no line break. ``email_validator`` decides
    the rest, without DNS lookups.
    """
    if not isinstance(value, str) or len(value) > 254 or "@" not in value:
        return EMAIL_MESSAGE
    local, _, domain = value.rpartition("@")
    labels = domain.split(".")
    if domain.startswith("[") or all(label.isdigit() for label in labels) and "." in domain:
        return "Une adresse IP n'est pas acceptée après le @ : indiquez un nom de domaine (exemple : structure.fr)."
    if not local or "." not in domain:
        return EMAIL_MESSAGE
    if any(not label for label in labels):
        return "Le nom de domaine de l'adresse e-mail contient un point en trop (exemple d'erreur : x@y..fr)."
    if any(label.startswith("-") or label.endswith("-") for label in labels):
        return "Une partie du nom de domaine de l'adresse e-mail commence ou finit par un tiret."
    try:
        validate_email(value, check_deliverability=False, allow_smtputf8=False, allow_domain_literal=False)
    except EmailNotValidError:
        return EMAIL_MESSAGE
    return None
