"""A record's change history as a person tells it, from its audit entries: one renderer for every history.

An audit entry stores ``{field: [old, new]}``. Shown raw, a creation was a line per field, most of them
"∅ → …" (17 for a structure). People say instead: "Créée par Élodie Marty le 7 déc. 2026 à 10:32" (with
a short summary of what it was created with), then, for each later edit, the fields it changed
("Catégorie : EHPAD → EHPA"); a deletion or an erasure is one line. A domain gives its words (what its
records are called, its fields' labels, the names behind its ids) in a :class:`Vocabulary`; the page
shows the lines with ``templates/_macros/history.html``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from crm.platform.formatting import format_datetime_long, format_day_long
from crm.platform.models import AuditEntry

ERASED = "[effacé]"  # what an erasure leaves of a personal value in the audit entries (RGPD)
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SUMMARY_LENGTH = 6  # initial values named on a creation's line; the rest are counted
# Past participles, masculine; a feminine subject adds an "e".
VERBS = {
    "create": "créé",
    "update": "modifié",
    "delete": "supprimé",
    "close": "fermé",
    "erase": "effacé (RGPD)",
}


@dataclass(frozen=True)
class Subject:
    """What a kind of record is called: "contact", "structure" (feminine)... The record whose page shows the
    history goes without a noun ("Créée par …"), the records it holds with theirs ("Contact créé par …")."""

    noun: str
    feminine: bool = False

    def participle(self, action: str) -> str:
        verb = VERBS.get(action, action)
        if self.feminine and action in VERBS:
            head, _, tail = verb.partition(" ")
            verb = f"{head}e {tail}".strip()
        return verb


@dataclass(frozen=True)
class Vocabulary:
    """A domain's words for its history: its records' nouns by entity type, its fields' labels, the labels
    behind id fields (``{"category_id": {3: "EHPAD"}}``) and the fields a creation's summary names first."""

    subjects: Mapping[str, Subject]
    labels: Mapping[str, str]
    names: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    summary_first: tuple[str, ...] = ()
    hidden: frozenset[str] = frozenset()  # fields never shown (technical)


@dataclass(frozen=True)
class Change:
    label: str
    before: str  # "" when the field was empty
    after: str
    field: str = ""  # the audited field's name

    @property
    def kind(self) -> str:
        """ "added", "removed", "changed" or "erased" (personal data erased since): each reads differently."""
        if self.before == ERASED:
            return "erased"
        if not self.before:
            return "added"
        if not self.after:
            return "removed"
        return "changed"


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    headline: str  # "Structure créée par Élodie Marty le 7 déc. 2026 à 10:32"
    action: str  # the audit action: create, update, delete, erase, close
    summary: list[Change] = field(default_factory=list)  # a creation's initial values (non-empty ones)
    more: int = 0  # initial values not named in the summary
    changes: list[Change] = field(default_factory=list)  # an edit's changed fields


def _value(raw, names: Mapping[int, str] | None) -> str:
    if raw is None or raw == "" or raw == []:
        return ""
    if isinstance(raw, bool):
        return "oui" if raw else "non"
    if names and isinstance(raw, int) and not isinstance(raw, bool):
        return names.get(raw, str(raw))
    if isinstance(raw, (datetime, date)):
        return format_day_long(raw)
    if isinstance(raw, str) and ISO_DAY.match(raw):
        try:
            return format_day_long(date.fromisoformat(raw))
        except ValueError:
            return raw
    if isinstance(raw, list):
        return ", ".join(_value(item, names) for item in raw if item not in (None, ""))
    return str(raw)


def _who(entry: AuditEntry) -> str:
    if entry.user is not None:
        return entry.user.display_name
    return entry.origin or "le système"


def _changes(entry: AuditEntry, words: Vocabulary) -> list[Change]:
    out = []
    for name, values in (entry.changes or {}).items():
        if name in words.hidden or not isinstance(values, (list, tuple)) or len(values) != 2:
            continue
        names = words.names.get(name)
        before, after = _value(values[0], names), _value(values[1], names)
        if before != after or before == ERASED:  # an erased value still says the field was changed
            out.append(Change(words.labels.get(name, name), before, after, name))
    return out


def _ordered(changes: list[Change], words: Vocabulary) -> list[Change]:
    rank = {name: index for index, name in enumerate(words.summary_first)}
    return sorted(changes, key=lambda c: rank.get(c.field, len(rank)))


def describe(entry: AuditEntry, words: Vocabulary) -> HistoryLine:
    """One audit entry as one line of history."""
    subject = words.subjects.get(entry.entity_type, Subject(entry.entity_type))
    verb = subject.participle(entry.action)
    what = f"{subject.noun} {verb}" if subject.noun else verb  # the page's own record goes without its noun
    headline = f"{what[:1].upper()}{what[1:]} par {_who(entry)} le {format_datetime_long(entry.at)}"
    changes = _changes(entry, words)
    if entry.action == "create":
        initial = _ordered([c for c in changes if c.after and c.after != ERASED], words)
        named = initial[:SUMMARY_LENGTH]
        return HistoryLine(entry.at, headline, entry.action, summary=named, more=len(initial) - len(named))
    if entry.action in ("delete", "erase"):
        return HistoryLine(entry.at, headline, entry.action)
    return HistoryLine(entry.at, headline, entry.action, changes=changes)


def history_lines(entries: Iterable[AuditEntry], words: Vocabulary) -> list[HistoryLine]:
    """The entries (newest first, as given) as lines; an edit that changed nothing visible is left out."""
    lines = [describe(entry, words) for entry in entries]
    return [line for line in lines if line.action != "update" or line.changes]
