"""Import of the FINESS establishments extract (etalab "cs1100507" layout).

One import is one transaction: structures, new category mappings, audit
entries and ``structure.*`` outbox events are committed together at the end,
or not at all. On PostgreSQL a transaction-level advisory lock keeps two
imports from interleaving.

Rules:
- upsert on the FINESS ET number; a structure created by hand with that number
  is adopted (its source becomes "finess"), the audit entry shows what changed;
- a FINESS-owned field edited by hand (``Structure.manual_fields``) keeps its
  value when the file differs, and the summary lists it under ``kept_manual``;
- category and sector come from ``FinessCategoryMapping``; an unknown
  ``categetab`` gets a mapping and a sector-less category ("FINESS_<code>",
  the file's label) for the admin to map; a category without a sector leaves
  the structure's sector as it was;
- open FINESS structures of the import's departments that the file no longer
  lists are closed. A line that was rejected still counts as listed, and a
  file with no line in the scope closes nothing;
- closure guard: an import that would close more than 5 % of the open FINESS
  structures of its scope (``closures_need_confirmation``) writes nothing
  unless the closures are confirmed; it still counts what it would have done
  (created, updated, unchanged, to close) so that the admin can decide. A
  truncated file must not close the region. On an empty registry nothing can
  be closed, so a first import always goes through;
- a SIRET that fails its check key is dropped (the establishment is imported).

Speed: the file is parsed in Python, existing structures are read in one
query, and every write is a bulk statement per 2,000 establishments: COPY on
PostgreSQL (executemany INSERT elsewhere) for structures, audit entries and
events, and an executemany UPDATE by primary key guarded by the version
column. A national file (100,000 establishments) imports in about half a
minute on two cores (``bench/finess_import.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, bindparam, select

from crm.platform import signals
from crm.platform.bulk import bulk_insert
from crm.platform.dates import local_today
from crm.platform.event_types import require_known
from crm.platform.events import note_outbox_written
from crm.platform.extensions import db
from crm.platform.formatting import format_number
from crm.platform.locking import FINESS_IMPORT, advisory_lock
from crm.platform.models import AuditEntry, OutboxEvent, utcnow
from crm.referential.models import Category, Department, FinessCategoryMapping, Sector
from crm.referential.services import region_department_codes
from crm.structures.finess_parse import (
    Establishment,
    FinessFileError,
    check_header,
    decode,
    parse_lines,
    read_source,
)
from crm.structures.models import FINESS_FIELDS, Structure

__all__ = ["FinessFileError", "FinessImportConflict", "ImportSummary", "import_finess"]

ADVISORY_LOCK_KEY = FINESS_IMPORT  # one FINESS import at a time
CHUNK = 2000
# An import closing more than this share of the open FINESS structures of its scope needs confirming.
CLOSURE_CONFIRM_PERCENT = 5
# The columns an import compares and writes (besides sector, state and bookkeeping).
FILE_FIELDS = FINESS_FIELDS + ("finess_updated_on",)
STATE_FIELDS = ("source", "is_open", "closed_on", "sector_id", "manual_fields")
CREATED_FIELDS = ("finess_et",) + FILE_FIELDS + ("sector_id",)  # what a creation's audit entry shows
_TABLE = Structure.__table__


class FinessImportConflict(FinessFileError):
    """A structure changed while the import ran; nothing was written, run it again."""


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0
    rejected: list[dict] = field(default_factory=list)
    skipped: int = 0
    kept_manual: list[dict] = field(default_factory=list)
    total_lines: int = 0
    seconds: float = 0.0
    # Set when the import was refused (nothing written): the closures it would have made, and the
    # open FINESS structures of its scope they are a share of. ``closing`` holds the structures.
    closures_refused: int | None = None
    open_in_scope: int = 0
    closing: list[dict] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return self.closures_refused is not None

    def as_dict(self) -> dict:
        out = {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "closed": self.closed,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "kept_manual": self.kept_manual,
        }
        if self.refused:
            out.update(closures_refused=self.closures_refused, open_in_scope=self.open_in_scope)
        return out

    def refusal_message(self) -> str:
        """Why a refused import wrote nothing, in French."""
        n = format_number
        share = n(100 * self.closures_refused / self.open_in_scope, 1) if self.open_in_scope else "100"
        closing = f"{n(self.closures_refused)} structure{'s' if self.closures_refused > 1 else ''}"
        return (
            f"Import refusé, rien n'a été enregistré : il fermerait {closing} "
            f"sur les {n(self.open_in_scope)} structures FINESS ouvertes de son périmètre ({share} %), "
            f"plus de {CLOSURE_CONFIRM_PERCENT} %. Un fichier tronqué ou d'une autre région aurait cet "
            "effet : vérifiez le fichier, puis confirmez les fermetures si elles sont voulues."
        )

    def lines(self, max_details: int = 200) -> list[str]:
        """The French report the CLI prints."""
        n = format_number
        if self.refused:
            out = [
                self.refusal_message(),
                "Ce que l'import aurait fait :",
                f"Lignes lues : {n(self.total_lines)}",
                f"À créer : {n(self.created)}",
                f"À mettre à jour : {n(self.updated)}",
                f"Inchangées : {n(self.unchanged)}",
                f"À fermer : {n(self.closures_refused)}",
            ]
            out += [f"  {c['finess_et']} – {c['name']} ({c['department_code']})" for c in self.closing[:20]]
            if len(self.closing) > 20:
                out.append(f"  … et {n(len(self.closing) - 20)} autres")
            return out
        out = [
            f"Import FINESS terminé en {n(self.seconds, 1)} s",
            f"Lignes lues : {n(self.total_lines)}",
            f"Créées : {n(self.created)}",
            f"Mises à jour : {n(self.updated)}",
            f"Inchangées : {n(self.unchanged)}",
            f"Fermées : {n(self.closed)}",
            f"Hors périmètre : {n(self.skipped)}",
            f"Lignes rejetées : {n(len(self.rejected))}",
        ]
        out += [f"  ligne {n(r['line'])} : {r['reason']}" for r in self.rejected[:max_details]]
        if len(self.rejected) > max_details:
            out.append(f"  … et {n(len(self.rejected) - max_details)} autres")
        out.append(f"Modifications manuelles conservées : {n(len(self.kept_manual))}")
        out += [
            f"  {k['finess']} – {k['field']} : conservé « {k['kept']} », fichier « {k['file']} »"
            for k in self.kept_manual[:max_details]
        ]
        if len(self.kept_manual) > max_details:
            out.append(f"  … et {n(len(self.kept_manual) - max_details)} autres")
        return out


@dataclass
class _Reference:
    """Category and sector look-ups, read once per import."""

    mapping: dict[str, int | None]  # FINESS code -> category id
    category_sector: dict[int, int | None]
    category_code: dict[int, str]
    sector_code: dict[int, str]

    @classmethod
    def load(cls) -> _Reference:
        categories = db.session.execute(select(Category.id, Category.code, Category.sector_id)).all()
        return cls(
            mapping=dict(
                db.session.execute(select(FinessCategoryMapping.finess_code, FinessCategoryMapping.category_id)).all()
            ),
            category_sector={cid: sid for cid, _, sid in categories},
            category_code={cid: code for cid, code, _ in categories},
            sector_code=dict(db.session.execute(select(Sector.id, Sector.code)).all()),
        )

    def add_unknown_codes(self, establishments: list[Establishment]) -> None:
        """A mapping row and a sector-less category for each FINESS code never seen before."""
        labels: dict[str, str] = {}
        for est in establishments:
            if est.category_code and est.category_code not in self.mapping:
                labels.setdefault(est.category_code, est.category_label or f"Catégorie FINESS {est.category_code}")
        for code, label in sorted(labels.items()):
            category = db.session.scalar(select(Category).where(Category.code == f"FINESS_{code}"))
            if category is None:
                category = Category(code=f"FINESS_{code}", label=label[:160], sector_id=None)
                db.session.add(category)
                db.session.flush()
            db.session.add(FinessCategoryMapping(finess_code=code, finess_label=label[:160], category_id=category.id))
            self.mapping[code] = category.id
            self.category_sector[category.id] = category.sector_id
            self.category_code[category.id] = category.code
        db.session.flush()

    def payload(self, structure_id: int, row: dict) -> dict:
        return {
            "structure_id": structure_id,
            "finess_et": row["finess_et"],
            "department": row["department_code"],
            "sector": self.sector_code.get(row["sector_id"]),
            "category": self.category_code.get(row["category_id"]),
            "is_open": row["is_open"],
        }


class _Writer:
    """Accumulates the audit entries and outbox events of the import and writes them in bulk."""

    def __init__(self, reference: _Reference, origin: str, user_id: int | None):
        self.reference, self.origin, self.user_id = reference, origin, user_id
        self.now = utcnow()
        self.audit: list[dict] = []
        self.outbox: list[dict] = []
        self.update_stmt = (
            _TABLE.update()
            .where(and_(_TABLE.c.id == bindparam("b_id"), _TABLE.c.version == bindparam("b_version")))
            .values(
                version=_TABLE.c.version + 1,
                updated_at=bindparam("b_updated_at"),
                search_text=bindparam("b_search_text"),
                **{name: bindparam(f"b_{name}") for name in FILE_FIELDS + STATE_FIELDS},
            )
        )

    def record(self, structure_id: int, action: str, event: str, changes: dict, row: dict) -> None:
        require_known(event)
        payload = self.reference.payload(structure_id, row)
        if action == "update":
            payload["changed"] = sorted(changes)
        self.audit.append(
            {
                "at": self.now,
                "user_id": self.user_id,
                "origin": self.origin,
                "entity_type": "structure",
                "entity_id": structure_id,
                "action": action,
                "changes": {k: [_plain(a), _plain(b)] for k, (a, b) in changes.items()},
            }
        )
        self.outbox.append(
            {
                "type": event,
                "aggregate_type": "structure",
                "aggregate_id": structure_id,
                "payload": payload,
                "actor_id": self.user_id,
                "created_at": self.now,
                "attempts": 0,
            }
        )

    def insert(self, rows: list[dict]) -> None:
        if not rows:
            return
        for row in rows:
            row.update(
                source="finess",
                is_open=True,
                closed_on=None,
                manual_fields=[],
                version=1,
                created_at=self.now,
                updated_at=self.now,
                search_text=_search_text(row),
            )
        # Insert, then one SELECT for the ids: much faster than INSERT ... RETURNING with psycopg,
        # which sends one huge multi-VALUES statement per thousand rows.
        _bulk_insert(_TABLE, rows)
        ids = dict(
            db.session.execute(
                select(_TABLE.c.finess_et, _TABLE.c.id).where(
                    _TABLE.c.finess_et.in_([row["finess_et"] for row in rows])
                )
            ).all()
        )
        for row in rows:
            changes = {k: (None, row[k]) for k in CREATED_FIELDS if row[k] is not None}
            self.record(ids[row["finess_et"]], "create", "structure.created", changes, row)

    def update(self, rows: list[dict]) -> None:
        """UPDATE by primary key, refused if someone saved the structure since we read it."""
        if not rows:
            return
        params = [
            {
                "b_id": r["id"],
                "b_version": r["version"],
                "b_updated_at": self.now,
                "b_search_text": _search_text(r),
                **{f"b_{k}": r[k] for k in FILE_FIELDS + STATE_FIELDS},
            }
            for r in rows
        ]
        result = db.session.execute(self.update_stmt, params)
        if result.rowcount not in (-1, len(rows)):
            raise FinessImportConflict(
                "Des structures ont été modifiées pendant l'import : rien n'a été enregistré, relancez l'import."
            )

    def flush_events(self) -> None:
        _bulk_insert(AuditEntry.__table__, self.audit)
        _bulk_insert(OutboxEvent.__table__, self.outbox)
        if self.outbox:
            note_outbox_written()
        self.audit, self.outbox = [], []


def _plain(value):
    """JSON-ready value of a structure column (only dates need converting): called millions of times."""
    return value.isoformat() if type(value) is date else value


def _bulk_insert(table, rows: list[dict]) -> None:
    """INSERT the rows (all with the same keys) in the session's transaction; COPY on PostgreSQL."""
    bulk_insert(db.session.connection(), table, rows)


def _search_text(row: dict) -> str:
    return Structure.build_search_text(
        row["name"], row["long_name"], row["finess_et"], row["commune"], row["postal_code"], row["siret"]
    )


def _load_existing() -> dict[str, dict]:
    names = ("id", "finess_et", "version") + FILE_FIELDS + STATE_FIELDS
    columns = [_TABLE.c[name] for name in names]
    result = db.session.execute(select(*columns).where(_TABLE.c.finess_et.is_not(None)))
    return {row["finess_et"]: dict(row) for row in result.mappings()}


def _merge(est: Establishment, old: dict | None, ref: _Reference, kept: list[dict]) -> tuple[dict, dict]:
    """The row to write for ``est`` and its changes ``{field: (old, new)}`` against ``old``."""
    new = dict(est.values)
    new["category_id"] = ref.mapping.get(est.category_code) if est.category_code else None
    if old is None:
        new["sector_id"] = ref.category_sector.get(new["category_id"])
        return new, {}
    manual = set(old["manual_fields"] or ())
    if old["source"] != "finess":
        # Adopting a structure typed by hand before the registry listed it: what was typed is a
        # hand edit too, kept where it differs from the file, and said in the summary.
        manual |= {name for name in FINESS_FIELDS if name in new and old[name] not in (None, "")}
    kept_fields = set()
    for name in manual & set(new):
        if new[name] != old[name]:
            shown = ref.category_code.get if name == "category_id" else _plain
            kept.append({"finess": new["finess_et"], "field": name, "kept": shown(old[name]), "file": shown(new[name])})
            new[name] = old[name]
            kept_fields.add(name)
    # An unmapped category (no sector) does not erase a sector chosen by hand.
    new["sector_id"] = ref.category_sector.get(new["category_id"]) or old["sector_id"]
    if "is_open" in manual and not old["is_open"]:
        # Closed by hand while the registry still lists it: stays closed, and the summary says so.
        kept.append({"finess": new["finess_et"], "field": "is_open", "kept": "fermée", "file": "ouverte"})
        new.update(is_open=False, closed_on=old["closed_on"])
    else:
        new.update(is_open=True, closed_on=None)
    new["manual_fields"] = sorted(set(old["manual_fields"] or ()) | kept_fields)
    new.update(source="finess", id=old["id"], version=old["version"])
    changes = {k: (old[k], new[k]) for k in FILE_FIELDS + STATE_FIELDS if old[k] != new[k]}
    return new, changes


def closures_need_confirmation(closing: int, open_in_scope: int) -> bool:
    """More than CLOSURE_CONFIRM_PERCENT % of the open FINESS structures of the scope would close.

    Integer arithmetic, so that exactly 5 % (1 of 20) goes through and 1 of 19 does not. An empty
    scope has nothing to close: a first import is never held back.
    """
    return closing * 100 > CLOSURE_CONFIRM_PERCENT * open_in_scope


def _open_in_scope(existing: dict[str, dict], scope: set[str] | None) -> list[dict]:
    """The open FINESS structures of the import's departments: the ones an import may close."""
    return [
        old
        for old in existing.values()
        if old["source"] == "finess" and old["is_open"] and (scope is None or old["department_code"] in scope)
    ]


def _close_absent(absent: list[dict], existing: dict[str, dict], writer: _Writer) -> int:
    today = local_today()
    rows = [{**old, "is_open": False, "closed_on": today} for old in absent]
    writer.update(rows)
    for row in rows:
        old = existing[row["finess_et"]]
        writer.record(
            row["id"],
            "update",
            "structure.closed",
            {"is_open": (True, False), "closed_on": (old["closed_on"], today)},
            row,
        )
    return len(rows)


def _count_without_writing(
    establishments: list[Establishment], existing: dict[str, dict], reference: _Reference, summary: ImportSummary
) -> None:
    """What the import would create, update or leave unchanged (the preview of a refused import)."""
    for est in establishments:
        old = existing.get(est.values["finess_et"])
        _, changes = _merge(est, old, reference, summary.kept_manual)
        if old is None:
            summary.created += 1
        elif changes:
            summary.updated += 1
        else:
            summary.unchanged += 1


def import_finess(
    source,
    *,
    all_regions: bool = False,
    region_code: str | None = None,
    origin: str = "import FINESS",
    user_id: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    close_absent: bool = True,
    confirmed_closures: int | None = None,
) -> ImportSummary:
    """Import a FINESS establishments extract; returns what it did. Needs an app context.

    ``source`` is a path, bytes or a binary file. By default only the configured
    region's departments (or ``region_code``'s) are imported, the others are
    skipped; ``all_regions`` imports every department. ``progress(done, total)``
    is called at the start, every 2,000 establishments and at the end.
    ``close_absent=False`` (used by the demo seeds, whose files are partial on
    purpose) keeps open the structures the file does not list.
    Raises FinessFileError (nothing written) when the file is not a FINESS extract.
    """
    started = time.perf_counter()
    content = decode(read_source(source))
    if not content.strip():
        raise FinessFileError("Le fichier est vide : ce n'est pas un extrait FINESS.")
    check_header(content[:200].split("\n", 1)[0])  # refuse a wrong file before touching the database
    session = db.session
    try:
        advisory_lock(FINESS_IMPORT, on_sqlite=False)
        scope = None if all_regions else set(region_department_codes(region_code))
        departments = set(session.scalars(select(Department.code)))
        parsed = parse_lines(content, scope, departments)
        del content
        summary = ImportSummary(rejected=parsed.rejected, skipped=parsed.skipped, total_lines=parsed.total_lines)
        reference = _Reference.load()
        reference.add_unknown_codes(parsed.establishments)
        existing = _load_existing()
        writer = _Writer(reference, origin, user_id)
        total = len(parsed.establishments)
        if total and close_absent:
            open_structures = _open_in_scope(existing, scope)
            absent = [old for old in open_structures if old["finess_et"] not in parsed.seen]
            if closures_need_confirmation(len(absent), len(open_structures)) and len(absent) > (
                confirmed_closures or 0
            ):
                summary.closures_refused, summary.open_in_scope = len(absent), len(open_structures)
                summary.closing = [
                    {k: old[k] for k in ("id", "finess_et", "name", "department_code")} for old in absent
                ]
                _count_without_writing(parsed.establishments, existing, reference, summary)
                session.rollback()  # the new category mappings too: a refused import writes nothing
                summary.seconds = round(time.perf_counter() - started, 2)
                return summary
            summary.closed = _close_absent(absent, existing, writer)
            writer.flush_events()
        if progress:
            progress(0, total)
        moved: list[int] = []  # structures whose department changed: their pipeline follows them
        for start in range(0, total, CHUNK):
            inserts, updates = [], []
            for est in parsed.establishments[start : start + CHUNK]:
                old = existing.get(est.values["finess_et"])
                row, changes = _merge(est, old, reference, summary.kept_manual)
                if old is None:
                    inserts.append(row)
                elif changes:
                    updates.append(row)
                    writer.record(row["id"], "update", "structure.updated", changes, row)
                    if "department_code" in changes:
                        moved.append(row["id"])
                else:
                    summary.unchanged += 1
            writer.insert(inserts)
            writer.update(updates)
            writer.flush_events()
            summary.created += len(inserts)
            summary.updated += len(updates)
            if progress:
                progress(min(start + CHUNK, total), total)
        if moved:
            signals.structure_department_changed.send(None, structure_ids=moved)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    summary.seconds = round(time.perf_counter() - started, 2)
    return summary
