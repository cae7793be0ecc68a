"""Usage figures: a service's statistics (FINESS or SIRET, month, value) read from a CSV or pushed by the API.

- The CSV is UTF-8 (with or without BOM) or Latin-1, ``;`` or ``,`` separated; the columns are chosen by a
  mapping (identifier, month, value) saved per offer, or guessed from the header.
- :func:`preview` reads the file and reports the matches and the lines that match no structure, with their
  line number and reason; nothing is written.
- :func:`import_usage` writes every valid line in one transaction: one row per (structure, offer, month),
  so importing the same file again gives the same rows (idempotent per file and month). A structure with
  usage above zero in a month goes to "usage actif" (source: import). One audit entry and one
  ``usage.imported`` event for the run, one ``deployment.status_changed`` per status moved.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import JSON, bindparam, insert, select, update

from crm.deployment import services
from crm.deployment.models import StructureDeployment, UsageFigure
from crm.platform.dates import local_today
from crm.platform.event_types import require_known
from crm.platform.events import _jsonable, note_outbox_written, record_change
from crm.platform.extensions import db
from crm.platform.models import AuditEntry, OutboxEvent, utcnow
from crm.referential.models import Offer
from crm.structures.models import Structure

FIELDS = {"identifier": "Identifiant (FINESS ou SIRET)", "month": "Mois", "value": "Valeur"}
GUESSES = {
    "identifier": ("finess", "finess_et", "nofiness", "siret", "identifiant", "id", "etablissement"),
    "month": ("mois", "month", "periode", "période", "date"),
    "value": ("valeur", "value", "usage", "nombre", "total", "utilisateurs", "volume"),
}
MAX_VALUE = 2_000_000_000
MAX_REJECTS_SHOWN = 200
CHUNK = 5_000


class UsageFileError(ValueError):
    """The file cannot be read at all (not text, no header, a mapped column missing): a French message."""


@dataclass
class Line:
    number: int
    identifier: str
    month: date
    value: int
    structure_id: int


@dataclass
class Reading:
    header: list[str]
    mapping: dict[str, str]
    lines: list[Line] = field(default_factory=list)
    rejects: list[tuple[int, str]] = field(default_factory=list)
    total: int = 0

    @property
    def months(self) -> list[date]:
        return sorted({line.month for line in self.lines})

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "matched": len(self.lines),
            "rejected": len(self.rejects),
            "months": [m.strftime("%Y-%m") for m in self.months],
            "mapping": self.mapping,
            "rejects": [{"line": n, "reason": r} for n, r in self.rejects[:MAX_REJECTS_SHOWN]],
        }


def decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data[:4096]:
        raise UsageFileError("Le fichier n'est pas un fichier texte CSV.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9éè_]", "", (name or "").strip().lower().replace(" ", "_"))


def guess_mapping(header: list[str], saved: dict | None = None) -> dict[str, str]:
    """The columns to read: the saved mapping where its columns are there, else a guess from the names."""
    mapping: dict[str, str] = {}
    for key in FIELDS:
        if saved and saved.get(key) in header:
            mapping[key] = saved[key]
            continue
        for column in header:
            if _normal(column) in GUESSES[key] and column not in mapping.values():
                mapping[key] = column
                break
    return mapping


def parse_month(raw: str) -> date | None:
    raw = (raw or "").strip()
    for pattern, order in (
        (r"(\d{4})-(\d{1,2})(?:-\d{1,2})?", "ym"),
        (r"(\d{4})/(\d{1,2})", "ym"),
        (r"(\d{1,2})[/-](\d{4})", "my"),
        (r"\d{1,2}/(\d{1,2})/(\d{4})", "my"),
        (r"(\d{4})(\d{2})", "ym"),
    ):
        match = re.fullmatch(pattern, raw)
        if match:
            a, b = match.groups()
            year, month = (int(a), int(b)) if order == "ym" else (int(b), int(a))
            if 1 <= month <= 12 and 2000 <= year <= 2100:
                return date(year, month, 1)
            return None
    return None


def parse_value(raw: str) -> int | None:
    if raw.isdigit() and raw.isascii():  # the usual case, without a regular expression
        value = int(raw)
        return value if value <= MAX_VALUE else None
    text = (raw or "").strip().replace("\u00a0", "").replace(" ", "")
    if re.fullmatch(r"\d+([.,]0+)?", text):
        value = int(re.split(r"[.,]", text)[0])
        return value if value <= MAX_VALUE else None
    return None


def _identifier(raw: str) -> str:
    if raw.isdigit():
        return raw
    return re.sub(r"[\s.]", "", (raw or "").strip())


def structure_ids(finess: Iterable[str], sirets: Iterable[str]) -> tuple[dict[str, int], dict[str, int]]:
    """FINESS ET -> id and SIRET -> id of the structures those numbers name (a SIRET shared: the first)."""
    by_finess: dict[str, int] = {}
    by_siret: dict[str, int] = {}
    finess, sirets = list(set(finess)), list(set(sirets))
    for start in range(0, len(finess), CHUNK):
        chunk = finess[start : start + CHUNK]
        by_finess.update(
            db.session.execute(select(Structure.finess_et, Structure.id).where(Structure.finess_et.in_(chunk))).all()
        )
    for start in range(0, len(sirets), CHUNK):
        chunk = sirets[start : start + CHUNK]
        for siret, structure_id in db.session.execute(
            select(Structure.siret, Structure.id).where(Structure.siret.in_(chunk)).order_by(Structure.id)
        ):
            by_siret.setdefault(siret, structure_id)
    return by_finess, by_siret


def read_csv(data: bytes, *, saved_mapping: dict | None = None, mapping: dict | None = None) -> Reading:
    """Read and check every line; match identifiers to structures. Raises UsageFileError if unreadable."""
    text = decode(data)
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(rows)]
    except StopIteration:
        raise UsageFileError("Le fichier est vide.") from None
    except csv.Error as error:
        raise UsageFileError(f"Le fichier n'est pas un CSV lisible : {error}.") from None
    chosen = {k: v for k, v in (mapping or {}).items() if v} or guess_mapping(header, saved_mapping)
    missing = [FIELDS[key] for key in FIELDS if chosen.get(key) not in header]
    if missing:
        raise UsageFileError(
            "Colonnes introuvables dans l'en-tête : " + ", ".join(missing) + ". Choisissez-les dans la correspondance."
        )
    index = {key: header.index(column) for key, column in chosen.items() if key in FIELDS}
    reading = Reading(header=header, mapping={k: chosen[k] for k in FIELDS})
    raw_lines: list[tuple[int, str, date, int]] = []
    i_identifier, i_month, i_value = index["identifier"], index["month"], index["value"]
    months: dict[str, date | None] = {}
    try:
        for number, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue
            reading.total += 1
            if len(row) < len(header):
                row = row + [""] * (len(header) - len(row))
            identifier = _identifier(row[i_identifier])
            raw_month = row[i_month]
            month = months.get(raw_month, False)
            if month is False:  # a file has few distinct months: each is parsed once
                month = months[raw_month] = parse_month(raw_month)
            value = parse_value(row[i_value])
            if not identifier:
                reading.rejects.append((number, "Identifiant vide."))
            elif not (len(identifier) in (9, 14) and identifier.isdigit()) and not re.fullmatch(
                r"\d[0-9AB]\d{7}", identifier
            ):
                reading.rejects.append((number, f"« {identifier[:20]} » n'est ni un FINESS (9) ni un SIRET (14)."))
            elif month is None:
                reading.rejects.append((number, f"Mois illisible : « {row[index['month']][:20]} » (attendu AAAA-MM)."))
            elif value is None:
                reading.rejects.append(
                    (number, f"Valeur illisible : « {row[index['value']][:20]} » (nombre entier positif attendu).")
                )
            else:
                raw_lines.append((number, identifier, month, value))
    except csv.Error as error:
        raise UsageFileError(f"Le fichier n'est pas un CSV lisible : {error}.") from None
    by_finess, by_siret = structure_ids(
        (i for _, i, _, _ in raw_lines if len(i) == 9), (i for _, i, _, _ in raw_lines if len(i) == 14)
    )
    seen: dict[tuple[int, date], int] = {}
    for number, identifier, month, value in raw_lines:
        structure_id = (by_finess if len(identifier) == 9 else by_siret).get(identifier)
        if structure_id is None:
            kind = "FINESS" if len(identifier) == 9 else "SIRET"
            reading.rejects.append((number, f"Aucune structure avec le {kind} {identifier}."))
            continue
        if (structure_id, month) in seen:
            reading.rejects.append(
                (number, f"Même structure et même mois que la ligne {seen[(structure_id, month)]} : ignorée.")
            )
            continue
        seen[(structure_id, month)] = number
        reading.lines.append(Line(number, identifier, month, value, structure_id))
    reading.rejects.sort()
    return reading


@dataclass
class UsageSummary:
    offer_code: str
    source: str
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    statuses: int = 0
    months: list[str] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "offer": self.offer_code,
            "source": self.source,
            "total": self.total,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "statuses": self.statuses,
            "months": self.months,
            "rejects": self.rejects[:MAX_REJECTS_SHOWN],
        }

    def lines(self) -> list[str]:
        out = [
            f"Offre {self.offer_code} — {self.total} lignes lues ({', '.join(self.months) or 'aucun mois'}).",
            f"Chiffres : {self.created} créés, {self.updated} mis à jour, {self.unchanged} inchangés.",
            f"Statuts passés en « usage actif » : {self.statuses}.",
            f"Lignes rejetées : {self.rejected}.",
        ]
        out += [f"  ligne {r['line']} : {r['reason']}" for r in self.rejects[:MAX_REJECTS_SHOWN]]
        return out


def bulk_insert(connection, table, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts with the same keys) in the connection's transaction. On PostgreSQL through ``COPY``:
    psycopg's executemany sends one statement per row, several times slower for a national file."""
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        for start in range(0, len(rows), CHUNK):
            connection.execute(insert(table), rows[start : start + CHUNK])
        return
    from psycopg.types.json import Json

    columns = list(rows[0])
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    names = ", ".join(f'"{name}"' for name in columns)
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([Json(row[name]) if name in json_columns else row[name] for name in columns])
    cursor.close()


def write_figures(
    offer: Offer,
    lines: list[Line],
    *,
    source: str,
    user_id: int | None,
    origin: str | None,
    summary: UsageSummary,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Upsert the figures and move the statuses, in the session's transaction (the caller commits)."""
    now = utcnow()
    by_month: dict[date, list[Line]] = {}
    for line in lines:
        by_month.setdefault(line.month, []).append(line)
    done, total = 0, len(lines)
    inserts: list[dict] = []
    updates: list[dict] = []
    for month, month_lines in sorted(by_month.items()):
        existing = dict(
            db.session.execute(
                select(UsageFigure.structure_id, UsageFigure.value).where(
                    UsageFigure.offer_id == offer.id, UsageFigure.month == month
                )
            ).all()
        )
        for line in month_lines:
            before = existing.get(line.structure_id)
            if before is None:
                inserts.append(
                    {
                        "structure_id": line.structure_id,
                        "offer_id": offer.id,
                        "month": month,
                        "value": line.value,
                        "source": source[:120],
                        "updated_at": now,
                    }
                )
                summary.created += 1
            elif before != line.value:
                updates.append({"s": line.structure_id, "m": month, "v": line.value, "src": source[:120], "at": now})
                summary.updated += 1
            else:
                summary.unchanged += 1
        done += len(month_lines)
        if progress:
            progress(done, total)
    connection = db.session.connection()
    bulk_insert(connection, UsageFigure.__table__, inserts)
    if updates:
        table = UsageFigure.__table__
        connection.execute(
            update(table)
            .where(
                table.c.structure_id == bindparam("s"),
                table.c.offer_id == offer.id,
                table.c.month == bindparam("m"),
            )
            .values(value=bindparam("v"), source=bindparam("src"), updated_at=bindparam("at")),
            updates,
        )
    active = {line.structure_id: line.month for line in lines if line.value > 0}
    summary.statuses = mark_active(offer, active, user_id=user_id, origin=origin)


def mark_active(offer: Offer, active: dict[int, date], *, user_id: int | None, origin: str | None) -> int:
    """Put the structures with usage "usage actif" (source: import), in bulk: one audit entry and one event
    per structure whose status moves. Returns how many moved."""
    if not active:
        return 0
    require_known("deployment.status_changed")
    ids = list(active)
    current: dict[int, tuple[int, str]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        current.update(
            {
                s: (d, st)
                for d, s, st in db.session.execute(
                    select(StructureDeployment.id, StructureDeployment.structure_id, StructureDeployment.status).where(
                        StructureDeployment.offer_id == offer.id, StructureDeployment.structure_id.in_(chunk)
                    )
                )
            }
        )
    moving = [s for s in ids if current.get(s, (None, None))[1] != "usage_actif"]
    if not moving:
        return 0
    facts: dict[int, tuple] = {}
    for start in range(0, len(moving), CHUNK):
        chunk = moving[start : start + CHUNK]
        for row in db.session.execute(
            select(Structure.id, Structure.department_code, Structure.sector_id, Structure.category_id).where(
                Structure.id.in_(chunk)
            )
        ):
            facts[row[0]] = row[1:]
    sector_codes, category_codes = _codes()
    now, today = utcnow(), local_today()
    connection = db.session.connection()
    table = StructureDeployment.__table__
    new_rows = [
        {
            "structure_id": s,
            "offer_id": offer.id,
            "status": "usage_actif",
            "status_on": today,
            "source": "import",
            "author_id": user_id,
            "updated_at": now,
        }
        for s in moving
        if s not in current
    ]
    bulk_insert(connection, table, new_rows)
    moved_existing = [{"i": current[s][0]} for s in moving if s in current]
    if moved_existing:
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("i"))
            .values(status="usage_actif", status_on=today, source="import", author_id=user_id, updated_at=now),
            moved_existing,
        )
    ids_now = {}
    for start in range(0, len(moving), CHUNK):
        chunk = moving[start : start + CHUNK]
        ids_now.update(
            db.session.execute(
                select(table.c.structure_id, table.c.id).where(
                    table.c.offer_id == offer.id, table.c.structure_id.in_(chunk)
                )
            ).all()
        )
    audits, events = [], []
    for s in moving:
        from_status = current.get(s, (None, None))[1]
        department, sector_id, category_id = facts.get(s, (None, None, None))
        payload = {
            "deployment_id": ids_now[s],
            "structure_id": s,
            "offer_id": offer.id,
            "department": department,
            "sector": sector_codes.get(sector_id),
            "category": category_codes.get(category_id),
            "from_status": from_status,
            "to_status": "usage_actif",
            "status_on": today.isoformat(),
            "source": "import",
        }
        audits.append(
            {
                "at": now,
                "user_id": user_id,
                "origin": origin,
                "entity_type": "structure_deployment",
                "entity_id": ids_now[s],
                "action": "create" if from_status is None else "update",
                "changes": {"status": [from_status, "usage_actif"], "source": [None, "import"]},
                "parent_type": "structure",
                "parent_id": s,
            }
        )
        events.append(
            {
                "type": "deployment.status_changed",
                "aggregate_type": "structure_deployment",
                "aggregate_id": ids_now[s],
                "payload": _jsonable(payload),
                "actor_id": user_id,
                "created_at": now,
                "processed_at": None,
                "attempts": 0,
                "last_error": None,
            }
        )
    bulk_insert(connection, AuditEntry.__table__, audits)
    bulk_insert(connection, OutboxEvent.__table__, events)
    note_outbox_written()
    return len(moving)


def _codes() -> tuple[dict[int, str], dict[int, str]]:
    from crm.referential.models import Category, Sector

    return (
        dict(db.session.execute(select(Sector.id, Sector.code)).all()),
        dict(db.session.execute(select(Category.id, Category.code)).all()),
    )


def _record_run(offer: Offer, summary: UsageSummary, structure_ids: list[int], *, user_id, origin) -> None:
    record_change(
        entity_type="offer_usage",
        entity_id=offer.id,
        action="import",
        changes={k: v for k, v in summary.as_dict().items() if k not in ("rejects",)},
        event_type="usage.imported",
        payload={
            "offer_id": offer.id,
            "source": summary.source,
            "months": summary.months,
            "written": summary.created + summary.updated,
            "rejected": summary.rejected,
            "structure_ids": sorted(set(structure_ids)),
        },
        user_id=user_id,
        origin=origin,
    )


def preview(data: bytes, offer: Offer, mapping: dict | None = None) -> Reading:
    return read_csv(data, saved_mapping=services.offer_settings(offer).column_mapping, mapping=mapping)


def import_usage(
    data: bytes,
    offer: Offer,
    *,
    source: str,
    mapping: dict | None = None,
    user_id: int | None = None,
    origin: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> UsageSummary:
    """Read, check and write a statistics file for ``offer``, in one transaction (committed here)."""
    reading = preview(data, offer, mapping)
    summary = UsageSummary(offer_code=offer.code, source=source, total=reading.total)
    summary.rejected = len(reading.rejects)
    summary.rejects = [{"line": n, "reason": r} for n, r in reading.rejects]
    summary.months = [m.strftime("%Y-%m") for m in reading.months]
    try:
        if reading.mapping != services.offer_settings(offer).column_mapping:
            services.save_offer_settings(offer, {"column_mapping": reading.mapping}, user_id=user_id, origin=origin)
        write_figures(
            offer, reading.lines, source=source, user_id=user_id, origin=origin, summary=summary, progress=progress
        )
        _record_run(offer, summary, [line.structure_id for line in reading.lines], user_id=user_id, origin=origin)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return summary


def push_usage(offer: Offer, items: list[dict], *, user_id: int | None, origin: str = "api") -> UsageSummary:
    """The API's push: ``[{finess|siret, month, value}]``, checked like a file's lines (numbered from 1)."""
    reading = Reading(header=[], mapping={})
    raw: list[tuple[int, str, date, int]] = []
    for number, item in enumerate(items, start=1):
        reading.total += 1
        if not isinstance(item, dict):
            reading.rejects.append((number, "Chaque élément doit être un objet."))
            continue
        identifier = _identifier(str(item.get("finess") or item.get("siret") or ""))
        month = parse_month(str(item.get("month") or ""))
        value = item.get("value")
        value = value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_VALUE else None
        if (
            not identifier
            or not (identifier.isdigit() or re.fullmatch(r"\d[0-9AB]\d{7}", identifier))
            or len(identifier) not in (9, 14)
        ):
            reading.rejects.append((number, "finess (9 caractères) ou siret (14 chiffres) attendu."))
        elif month is None:
            reading.rejects.append((number, "month attendu au format AAAA-MM."))
        elif value is None:
            reading.rejects.append((number, "value attendu : nombre entier positif."))
        else:
            raw.append((number, identifier, month, value))
    by_finess, by_siret = structure_ids(
        (i for _, i, _, _ in raw if len(i) == 9), (i for _, i, _, _ in raw if len(i) == 14)
    )
    seen: dict[tuple[int, date], int] = {}
    for number, identifier, month, value in raw:
        structure_id = (by_finess if len(identifier) == 9 else by_siret).get(identifier)
        if structure_id is None:
            reading.rejects.append((number, f"Aucune structure avec l'identifiant {identifier}."))
        elif (structure_id, month) in seen:
            reading.rejects.append(
                (number, f"Même structure et même mois que l'élément {seen[(structure_id, month)]}.")
            )
        else:
            seen[(structure_id, month)] = number
            reading.lines.append(Line(number, identifier, month, value, structure_id))
    reading.rejects.sort()
    summary = UsageSummary(offer_code=offer.code, source=origin, total=reading.total)
    summary.rejected = len(reading.rejects)
    summary.rejects = [{"line": n, "reason": r} for n, r in reading.rejects]
    summary.months = [m.strftime("%Y-%m") for m in reading.months]
    try:
        write_figures(offer, reading.lines, source=origin, user_id=user_id, origin=origin, summary=summary)
        _record_run(offer, summary, [line.structure_id for line in reading.lines], user_id=user_id, origin=origin)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return summary
