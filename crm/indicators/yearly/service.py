"""What the CLI and the page ask for (a year, maybe a department, a format), checked with French messages, and
the file it gives."""

from __future__ import annotations

from crm.indicators.yearly.pack import build_pack
from crm.indicators.yearly.pdf import report
from crm.indicators.yearly.xlsx import workbook
from crm.platform.dates import local_today
from crm.platform.validation import ValidationFailed
from crm.referential.services import region_department_codes

FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
FIRST_YEAR = 2000


def parse_request(year_text, department_text, fmt: str | None = None, allowed: tuple[str, ...] | None = None):
    """(year, department or None): refused with one French message per field (ValidationFailed)."""
    errors: dict[str, str] = {}
    text = str(year_text or "").strip()
    last = local_today().year + 1
    year_number = None
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        errors["year"] = "Année attendue sur quatre chiffres, par exemple 2026."
    elif not FIRST_YEAR <= int(text) <= last:
        errors["year"] = f"Année hors de la plage possible ({FIRST_YEAR} à {last})."
    else:
        year_number = int(text)
    department = str(department_text or "").strip().upper() or None
    if department is not None and department not in region_department_codes():
        errors["department"] = "Département inconnu ou hors de la région."
    elif allowed is not None and department not in allowed:
        errors["department"] = "Vous ne pouvez produire le bilan que de vos départements."
    if fmt is not None and fmt not in FORMATS:
        errors["format"] = "Format inconnu : choisissez xlsx ou pdf."
    if errors:
        raise ValidationFailed(errors)
    return year_number, department


def filename(year_number: int, department: str | None, fmt: str) -> str:
    return f"bilan-annuel-{year_number}{'-' + department if department else ''}.{fmt}"


def render(year_number: int, department: str | None, fmt: str) -> bytes:
    """The pack as a file (``fmt``: xlsx or pdf)."""
    if fmt == "xlsx":
        return workbook(build_pack(year_number, department, with_charts=False))
    return report(build_pack(year_number, department))
