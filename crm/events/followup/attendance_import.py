"""Reading the attendance report of a video tool (Teams, Zoom, Livestorm): pure functions, no database.

The three tools export differently: Teams writes UTF-16 with tabs, and recent versions put a
summary block ("1. Résumé") before the participants table and an activity log after it; Zoom
writes UTF-8 with commas, a meeting line above the participants, headers in the account's
language; Livestorm writes one line per registrant with an "Attended" column, in CSV or XLSX. So the reader
detects the encoding, the delimiter and the header row, then maps columns to the fields we need
with the tool's own header names, or with the mapping an organiser chose on the import page.

Every problem with the file is an :class:`AttendanceFileError` with a French message, or a
French warning on the report; no other exception leaves :func:`read_attendance_report`.
Nothing here reads or writes the database.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from crm.events.followup.attendance_columns import (
    COMMON_HEADERS,
    FIELDS,
    NO,
    PARTICIPANT_SECTIONS,
    SIGNATURES,
    TOOL_HEADERS,
    TOOLS,
    YES,
)
from crm.platform.text import fold
from crm.platform.uploads import UploadRefused, check_cells, xlsx_rows
from crm.platform.validation import email_error

PARIS = ZoneInfo("Europe/Paris")
MAX_REPORT_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
MAX_WARNINGS = 30

# "(Invité)", "(External)" after a Teams name, "(original name)" after a Zoom one.
_NAME_SUFFIX = re.compile(r"\s*\([^()]*\)\s*$")


class AttendanceFileError(ValueError):
    """The file cannot be read as an attendance report: ``columns`` lists the header found, if any."""

    def __init__(self, message: str, columns: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.columns = columns or []


@dataclass
class AttendanceRow:
    email: str
    line: int
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    duration_minutes: int | None = None
    joined_at: datetime | None = None
    attended: bool = True

    def person_name(self) -> tuple[str, str]:
        """(first name, last name), split from the full name when the file has only that."""
        if self.first_name or self.last_name:
            return (self.first_name or "", self.last_name or "")
        name = _NAME_SUFFIX.sub("", self.name or "").strip()
        if "," in name:  # Teams' directory order: "Dupont, Jean"
            last, _, first = name.partition(",")
            return first.strip(), last.strip()
        first, _, last = name.partition(" ")
        return (first, last) if last else ("", first)


@dataclass
class AttendanceReport:
    tool: str
    encoding: str
    delimiter: str
    columns: list[str]
    mapping: dict[str, int]
    rows: list[AttendanceRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def mapped_columns(self) -> dict[str, str]:
        return {name: self.columns[index] for name, index in self.mapping.items()}


def read_attendance_report(
    data: bytes, *, tool: str = "auto", mapping: dict[str, str] | None = None, max_bytes: int = MAX_REPORT_BYTES
) -> AttendanceReport:
    """The participants of a report: one row per distinct email, with French warnings.

    ``mapping`` (field -> column header) overrides the tool's header names for the fields it
    names. Raises :class:`AttendanceFileError` for a file that cannot be used.
    """
    if tool not in TOOLS:
        raise AttendanceFileError("Outil inconnu : choisissez Teams, Zoom, Livestorm ou « Autre outil ».")
    if not data or not data.strip(b"\x00\r\n\t \xef\xbb\xbf\xff\xfe"):
        raise AttendanceFileError("Le fichier est vide.")
    if len(data) > max_bytes:
        raise AttendanceFileError(
            f"Le fichier est trop volumineux (plus de {max_bytes // (1024 * 1024)} Mo) : "
            "un rapport de présence fait quelques centaines de Ko."
        )
    try:
        text, encoding = xlsx_as_text(data) if data.startswith(b"PK\x03\x04") else decode_report(data)
        table = _find_table(text, tool, mapping)
    except UploadRefused as refused:
        raise AttendanceFileError(refused.message) from None
    report = AttendanceReport(
        tool=table.tool, encoding=encoding, delimiter=table.delimiter, columns=table.columns, mapping=table.mapping
    )
    _read_rows(table, report)
    if not report.rows:
        raise AttendanceFileError(
            "Aucun participant avec une adresse e-mail n'a été trouvé dans le fichier.", table.columns
        )
    return report


def decode_report(data: bytes) -> tuple[str, str]:
    """The text and its encoding: a BOM first, then UTF-16 without BOM (NUL bytes), UTF-8, Windows-1252."""
    if data.startswith(b"%PDF"):
        raise AttendanceFileError("C'est un document PDF, pas un fichier CSV : exportez le rapport au format CSV.")
    candidates = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates.append("utf-16")
    elif data.startswith(b"\xef\xbb\xbf"):
        candidates.append("utf-8-sig")
    else:
        sample = data[:4000]
        if sample.count(b"\x00") > len(sample) // 4:
            odd_nuls = sample[1::2].count(b"\x00")
            candidates.append("utf-16-le" if odd_nuls > sample[0::2].count(b"\x00") else "utf-16-be")
        candidates += ["utf-8", "cp1252"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            return text.lstrip("\ufeff"), {"utf-8-sig": "UTF-8"}.get(encoding, encoding.upper())
    raise AttendanceFileError(
        "Ce fichier n'est pas un fichier texte CSV lisible : exportez le rapport de "
        "présence au format CSV depuis l'outil de visioconférence."
    )


def xlsx_as_text(data: bytes) -> tuple[str, str]:
    """The first sheet of an Excel workbook (Livestorm exports one) as tab-separated text, read within bounds."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    try:
        for cells in xlsx_rows(data, max_rows=MAX_ROWS + 100, max_columns=60):
            writer.writerow(cells)
    except UploadRefused as refused:
        raise AttendanceFileError(
            f"{refused.message} Exportez le rapport au format CSV depuis l'outil de visioconférence."
        ) from None
    return buffer.getvalue(), "XLSX"


def _looks_like_text(text: str) -> bool:
    sample = text[:20000]
    controls = sum(1 for c in sample if ord(c) < 32 and c not in "\t\r\n")
    return controls <= len(sample) // 100


@dataclass
class _Table:
    tool: str
    delimiter: str
    columns: list[str]
    mapping: dict[str, int]
    lines: list[tuple[int, list[str]]]  # (line number in the file, cells)
    duration_unit: str = "minutes"


def _split(text: str, delimiter: str) -> list[list[str]]:
    try:
        return list(csv.reader(text.splitlines(), delimiter=delimiter))
    except csv.Error:  # a NUL or an unbalanced quote: cut the line on the delimiter
        return [line.split(delimiter) for line in text.splitlines()]


def _delimiters(text: str) -> list[str]:
    """The sniffed delimiter first, then the others: the header search decides between them."""
    order = ["\t", ";", ",", "|"]
    try:
        sniffed = csv.Sniffer().sniff(text[:20000], delimiters="".join(order)).delimiter
        order.remove(sniffed)
        order.insert(0, sniffed)
    except csv.Error:
        pass
    return order


def _headers_for(tool: str) -> dict[str, list[str]]:
    headers = {name: list(values) for name, values in COMMON_HEADERS.items()}
    for name, values in TOOL_HEADERS.get(tool, {}).items():
        headers[name] = values + [v for v in headers[name] if v not in values]
    return headers


def _match_columns(cells: list[str], tool: str, manual: dict[str, str]) -> dict[str, int]:
    folded = [fold(c) for c in cells]
    mapping: dict[str, int] = {}
    for name, wanted in manual.items():
        if fold(wanted) in folded:
            mapping[name] = folded.index(fold(wanted))
    for name, synonyms in _headers_for(tool).items():
        if name in mapping or name in manual:
            continue
        for synonym in synonyms:
            if synonym in folded and folded.index(synonym) not in mapping.values():
                mapping[name] = folded.index(synonym)
                break
    # "Nom" beside "Prénom" is the last name, not the full name.
    if (
        "first_name" in mapping
        and "name" in mapping
        and "last_name" not in mapping
        and folded[mapping["name"]] in ("nom", "name")
    ):
        mapping["last_name"] = mapping.pop("name")
    return mapping


def _guess_tool(columns: list[str], text: str) -> str:
    folded = {fold(c) for c in columns}
    for tool, signature in SIGNATURES.items():
        if folded & signature:
            return tool
    head = fold(text[:300])
    if head.startswith(("1 summary", "1 resume", "meeting summary", "resume de la reunion")):
        return "teams"
    return "autre"


def _find_table(text: str, tool: str, manual: dict[str, str] | None) -> _Table:
    manual = {k: v for k, v in (manual or {}).items() if k in FIELDS and v}
    best: tuple[tuple, _Table] | None = None
    widest: list[str] = []
    for delimiter in _delimiters(text):
        rows = _split(text, delimiter)
        for index, cells in enumerate(rows):
            if len(cells) < 2 or any("@" in c for c in cells):
                continue
            check_cells(cells, index + 1)  # a header of 200,000 columns is no report: refused, not listed
            if not widest or (
                len(cells) > len(widest) and any("@" in c for r in rows[index + 1 : index + 3] for c in r)
            ):
                widest = [c.strip() for c in cells]
            guess = tool if tool != "auto" else _guess_tool(cells, text)
            mapping = _match_columns(cells, guess, manual)
            if "email" not in mapping or not ({"name", "first_name", "last_name"} & mapping.keys() or manual):
                continue
            lines = _table_lines(rows, index, len(cells))
            above = [c for c in rows[index - 1] if c.strip()] if index else []
            section = fold(above[0]) if len(above) == 1 else ""
            score = (section in PARTICIPANT_SECTIONS, len(mapping), len(lines))
            if best is None or score > best[0]:
                duration_header = fold(cells[mapping["duration"]]) if "duration" in mapping else ""
                unit = "seconds" if "second" in duration_header else "minutes"
                best = (score, _Table(guess, delimiter, [c.strip() for c in cells], mapping, lines, unit))
        if best:  # the first delimiter that shows a participants table is the file's
            break
    if best is None:
        if manual:
            raise AttendanceFileError("Les colonnes choisies ne se trouvent pas dans le fichier.", widest)
        raise AttendanceFileError(
            "Aucune colonne d'adresse e-mail n'a été reconnue dans le fichier : "
            "indiquez quelle colonne contient l'e-mail des participants.",
            widest,
        )
    return best[1]


def _table_lines(rows: list[list[str]], header: int, width: int) -> list[tuple[int, list[str]]]:
    """The data lines under the header, up to the first blank line or section title."""
    lines = []
    for number, cells in enumerate(rows[header + 1 :], start=header + 2):
        if not any(c.strip() for c in cells) or (len(cells) == 1 and width > 1):
            break
        lines.append((number, cells))
    return lines


def _read_rows(table: _Table, report: AttendanceReport) -> None:
    if len(table.lines) > MAX_ROWS:
        raise AttendanceFileError(
            f"Le fichier compte plus de {MAX_ROWS:,} lignes de participants : "
            "ce n'est pas un rapport de présence.".replace(",", "\u202f"),
            table.columns,
        )
    by_email: dict[str, AttendanceRow] = {}
    without_email = 0
    for number, cells in table.lines:

        def cell(name: str, cells: list[str] = cells) -> str:
            index = table.mapping.get(name)
            # Whitespace runs (a line break in a quoted cell) become one space: names reach email headers.
            return " ".join(cells[index].split()) if index is not None and index < len(cells) else ""

        raw_email = cell("email")
        if not raw_email:
            without_email += 1
            continue
        email = _clean_email(raw_email)
        if email is None:
            _warn(report, f"Ligne {number} : « {raw_email[:80]} » n'est pas une adresse e-mail, ligne ignorée.")
            continue
        row = AttendanceRow(
            email=email,
            line=number,
            name=cell("name")[:200] or None,
            first_name=cell("first_name")[:100] or None,
            last_name=cell("last_name")[:100] or None,
        )
        row.duration_minutes = _duration(cell("duration"), table.duration_unit, number, report)
        row.joined_at = _datetime(cell("joined_at"), number, report)
        attended = fold(cell("attended"))
        row.attended = attended not in NO
        if attended and attended not in YES | NO:
            _warn(
                report,
                f"Ligne {number} : valeur « {cell('attended')[:40]} » non comprise pour la présence, "
                "participant compté présent.",
            )
        _merge(by_email, row)
    if without_email:
        _warn(report, f"{without_email} ligne(s) sans adresse e-mail ignorée(s) (invités non identifiés).")
    report.rows = list(by_email.values())


def _merge(by_email: dict[str, AttendanceRow], row: AttendanceRow) -> None:
    """One row per email: a participant who reconnected appears several times."""
    seen = by_email.get(row.email)
    if seen is None:
        by_email[row.email] = row
        return
    if row.duration_minutes is not None:
        seen.duration_minutes = (seen.duration_minutes or 0) + row.duration_minutes
    if row.joined_at and (seen.joined_at is None or row.joined_at < seen.joined_at):
        seen.joined_at = row.joined_at
    seen.attended = seen.attended or row.attended
    seen.name = seen.name or row.name


def _warn(report: AttendanceReport, message: str) -> None:
    if len(report.warnings) < MAX_WARNINGS:
        report.warnings.append(message)
    elif len(report.warnings) == MAX_WARNINGS:
        report.warnings.append("D'autres lignes posent problème : corrigez le fichier puis importez-le à nouveau.")


def _clean_email(value: str) -> str | None:
    """The registrations' own rule and key (lower-cased as typed), so that the same address matches."""
    value = value.strip().strip("<>").strip()
    if email_error(value):
        return None
    return value.lower()


_HMS = re.compile(r"^(?:(\d+)\s*h)?\s*(?:(\d+)\s*(?:m|min|mn)\b)?\s*(?:(\d+)\s*(?:s|sec)\b)?$")


def _duration(value: str, unit: str, line: int, report: AttendanceReport) -> int | None:
    """Minutes from "65", "65,5", "1h 7m 28s", "1 h 7 min 28 s", "01:07:28"."""
    value = value.strip().lower()
    if not value:
        return None
    seconds = None
    number = value.replace(",", ".").replace("\u202f", "").replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", number) and len(number) < 10:
        seconds = float(number) * (1 if unit == "seconds" else 60)
    elif re.fullmatch(r"\d{1,3}:\d{2}(:\d{2})?", value):
        parts = [int(p) for p in value.split(":")]
        seconds = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) == 3 else 0)
    elif (match := _HMS.match(value)) and any(match.groups()):
        hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds is None or seconds > 7 * 24 * 3600:
        _warn(report, f"Ligne {line} : durée « {value[:40]} » non comprise, ignorée.")
        return None
    return round(seconds / 60)


_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y, %H:%M:%S",
    "%d/%m/%y %H:%M:%S",
    "%d/%m/%y, %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
)
_US_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%y, %I:%M:%S %p",
    "%m/%d/%Y, %I:%M:%S %p",
    "%m/%d/%y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
)


def _datetime(value: str, line: int, report: AttendanceReport) -> datetime | None:
    """A time of the report, in Europe/Paris unless it says its zone; US dates when it says AM/PM."""
    value = re.sub(r"\s+", " ", value.strip())
    if not value:
        return None
    iso = value.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(iso)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=PARIS)
    except ValueError:
        pass
    us = bool(re.search(r"\b(am|pm)$", value, re.I))
    for pattern in _US_FORMATS if us else _DATETIME_FORMATS:
        try:
            return datetime.strptime(value.upper() if us else value, pattern).replace(tzinfo=PARIS)
        except ValueError:
            continue
    _warn(report, f"Ligne {line} : heure d'arrivée « {value[:40]} » non comprise, ignorée.")
    return None
