"""FINESS and SIRET numbers: normalisation and Luhn check keys."""

from __future__ import annotations

import re

_FINESS = re.compile(r"^(\d{2}|2[AB])\d{7}$")


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (check digit last) passes the Luhn algorithm."""
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial`` + digit Luhn-valid."""
    for digit in "0123456789":
        if luhn_valid(partial + digit):
            return digit
    raise ValueError(partial)


def clean_identifier(value: str | None) -> str:
    """Remove the spaces, dots and dashes people type inside numbers."""
    return re.sub(r"[\s.\-]", "", value or "").upper()


def finess_error(value: str) -> str | None:
    """French error message for an invalid FINESS number, None when valid."""
    if not _FINESS.match(value):
        return "Le numéro FINESS doit comporter 9 caractères (chiffres, ou 2A/2B pour la Corse)."
    # Corsica's 2A / 2B count as 20 in the key computation.
    if not luhn_valid("20" + value[2:] if value[:2] in ("2A", "2B") else value):
        return "Le numéro FINESS est invalide (clé de contrôle incorrecte)."
    return None


def siret_error(value: str) -> str | None:
    """French error message for an invalid SIRET number, None when valid."""
    if not re.fullmatch(r"\d{14}", value):
        return "Le numéro SIRET doit comporter 14 chiffres."
    # La Poste's establishments use another key (sum of digits multiple of 5).
    if value.startswith("356000000"):
        if sum(int(c) for c in value) % 5 == 0:
            return None
    if not luhn_valid(value):
        return "Le numéro SIRET est invalide (clé de contrôle incorrecte)."
    return None
