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

from sqlalchemy import Date, DateTime, bindparam, select, text

from crm.deployment import services
from crm.platform.bulk import Stage, bulk_insert
from crm.platform.dates import local_today
from crm.platform.event_types import require_known
from crm.platform.events import note_outbox_written, record_change
from crm.platform.extensions import db
from crm.platform.locking import USAGE_IMPORT, advisory_lock
from crm.platform.models import AuditEntry, OutboxEvent, utcnow
from crm.platform.sql import among
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
LOOKUP_CHUNK = 20_000  # identifiers looked up at once (one array parameter on PostgreSQL)


class UsageFileError(ValueError):
    """The file cannot be read at all (not text, no header, a mapped column missing): a French message."""


@dataclass(slots=True)
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
    for start in range(0, len(finess), LOOKUP_CHUNK):
        chunk = finess[start : start + LOOKUP_CHUNK]
        by_finess.update(
            db.session.execute(select(Structure.finess_et, Structure.id).where(among(Structure.finess_et, chunk))).all()
        )
    for start in range(0, len(sirets), LOOKUP_CHUNK):
        chunk = sirets[start : start + LOOKUP_CHUNK]
        for siret, structure_id in db.session.execute(
            select(Structure.siret, Structure.id).where(among(Structure.siret, chunk)).order_by(Structure.id)
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
            if not "".join(row).strip():  # a blank line (or only separators)
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


STAGE = "usage_import_stage"


def _sql(statement: str):
    """A statement on the staged lines, its dates typed (SQLite stores them as SQLAlchemy's text forms)."""
    query = text(statement)
    binds = [bindparam(name, type_=kind) for name, kind in (("now", DateTime(timezone=True)), ("today", Date))]
    return query.bindparams(*[b for b in binds if f":{b.key}" in statement])


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
    """Upsert the figures and move the statuses, in the session's transaction (the caller commits).

    The lines are staged in a temporary table, compared with the stored figures and written in SQL: a national
    file is 1.2 M lines, which fetching the stored values into Python and sending back row by row made slow."""
    total = len(lines)
    if not total:
        return
    # One import of an offer at a time: two at once would both count a figure as new and move a status twice.
    advisory_lock(USAGE_IMPORT, offer.id, on_sqlite=False)
    connection = db.session.connection()
    stage = Stage(connection, STAGE, (("structure_id", "INTEGER"), ("month", "DATE"), ("value", "INTEGER")))
    try:
        stage.load((line.structure_id, line.month, line.value) for line in lines)
        if progress:
            progress(total // 3, total)
        params = {"offer": offer.id, "source": source[:120], "now": utcnow()}
        created, updated = connection.execute(
            text(
                f"SELECT coalesce(sum(CASE WHEN f.id IS NULL THEN 1 ELSE 0 END), 0),"
                f" coalesce(sum(CASE WHEN f.value <> s.value THEN 1 ELSE 0 END), 0)"
                f" FROM {STAGE} s LEFT JOIN usage_figures f"
                f" ON f.structure_id = s.structure_id AND f.offer_id = :offer AND f.month = s.month"
            ),
            params,
        ).one()
        summary.created, summary.updated = int(created), int(updated)
        summary.unchanged = total - summary.created - summary.updated
        if summary.updated:
            # "WHERE true": SQLite's parser needs it to tell the SELECT's end from the ON CONFLICT clause.
            connection.execute(
                _sql(
                    f"INSERT INTO usage_figures (structure_id, offer_id, month, value, source, updated_at)"
                    f" SELECT structure_id, :offer, month, value, :source, :now FROM {STAGE} WHERE true"
                    f" ON CONFLICT (structure_id, offer_id, month) DO UPDATE"
                    f" SET value = excluded.value, source = excluded.source, updated_at = excluded.updated_at"
                    f" WHERE usage_figures.value <> excluded.value"
                ),
                params,
            )
        elif summary.created:
            # Only new figures (a first import, or new months): a plain INSERT, with no conflict to look for
            # beyond the figures already there (the offer's lock keeps another import from adding any).
            only_new = (
                ""
                if summary.created == total
                else (
                    " WHERE NOT EXISTS (SELECT 1 FROM usage_figures f WHERE f.structure_id = s.structure_id"
                    " AND f.offer_id = :offer AND f.month = s.month)"
                )
            )
            connection.execute(
                _sql(
                    f"INSERT INTO usage_figures (structure_id, offer_id, month, value, source, updated_at)"
                    f" SELECT s.structure_id, :offer, s.month, s.value, :source, :now FROM {STAGE} s{only_new}"
                ),
                params,
            )
        if progress:
            progress(total * 2 // 3, total)
        summary.statuses = mark_active(offer, user_id=user_id, origin=origin)
        if progress:
            progress(total, total)
    finally:
        stage.drop()


def mark_active(offer: Offer, *, user_id: int | None, origin: str | None) -> int:
    """Put the staged structures with usage above zero "usage actif" (source: import), in SQL: one audit entry
    and one event per structure whose status moves. Returns how many moved."""
    require_known("deployment.status_changed")
    connection = db.session.connection()
    active = f"SELECT DISTINCT structure_id FROM {STAGE} WHERE value > 0"
    moving = connection.execute(
        text(
            f"SELECT a.structure_id, d.status, st.department_code, st.sector_id, st.category_id"
            f" FROM ({active}) a JOIN structures st ON st.id = a.structure_id"
            f" LEFT JOIN structure_deployments d ON d.structure_id = a.structure_id AND d.offer_id = :offer"
            f" WHERE d.status IS NULL OR d.status <> 'usage_actif'"
        ),
        {"offer": offer.id},
    ).all()
    if not moving:
        return 0
    now, today = utcnow(), local_today()
    params = {"offer": offer.id, "today": today, "user": user_id, "now": now}
    connection.execute(
        _sql(
            f"UPDATE structure_deployments SET status = 'usage_actif', status_on = :today, source = 'import',"
            f" author_id = :user, updated_at = :now"
            f" WHERE offer_id = :offer AND status <> 'usage_actif' AND structure_id IN ({active})"
        ),
        params,
    )
    connection.execute(
        _sql(
            f"INSERT INTO structure_deployments (structure_id, offer_id, status, status_on, source, author_id,"
            f" updated_at) SELECT a.structure_id, :offer, 'usage_actif', :today, 'import', :user, :now"
            f" FROM ({active}) a WHERE NOT EXISTS (SELECT 1 FROM structure_deployments d"
            f" WHERE d.structure_id = a.structure_id AND d.offer_id = :offer)"
        ),
        params,
    )
    ids = dict(
        connection.execute(
            text(
                f"SELECT d.structure_id, d.id FROM structure_deployments d JOIN ({active}) a"
                f" ON a.structure_id = d.structure_id WHERE d.offer_id = :offer"
            ),
            {"offer": offer.id},
        ).all()
    )
    sector_codes, category_codes = _codes()
    audits, events = [], []
    for structure_id, from_status, department, sector_id, category_id in moving:
        deployment_id = ids[structure_id]
        payload = {
            "deployment_id": deployment_id,
            "structure_id": structure_id,
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
                "entity_id": deployment_id,
                "action": "create" if from_status is None else "update",
                "changes": {"status": [from_status, "usage_actif"], "source": [None, "import"]},
                "parent_type": "structure",
                "parent_id": structure_id,
            }
        )
        events.append(
            {
                "type": "deployment.status_changed",
                "aggregate_type": "structure_deployment",
                "aggregate_id": deployment_id,
                "payload": payload,
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
        advisory_lock(USAGE_IMPORT, offer.id, on_sqlite=False)  # before the mapping's first save, too
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
