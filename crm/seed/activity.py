"""Seeded activities: two years of visits, calls, meetings, demonstrations and webinars by the
animators of each department, with their structures, contacts, offers or programmes, notes, next
steps (each a follow-up task, as ``log_activity`` does) and ``activity.logged`` events.

Written in bulk through a ``Loader``, per chunk of 20,000: ids drawn ahead, then COPY on PostgreSQL."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from crm.activities.models import (
    ALL_PROGRAMMES,
    Activity,
    activity_contacts,
    activity_departments,
    activity_offers,
    activity_programmes,
    activity_structures,
)
from crm.seed.context import SeedContext, Weighted, pick
from crm.seed.payloads import ActivityRef, Journal, OfferRef, StructureRef, TaskRef, activity_payload, task_payload
from crm.seed.wording import (
    GENERIC_NEXT_STEPS,
    KINDS,
    MULTI_KINDS,
    MULTI_SUBJECTS,
    NEXT_STEPS,
    NOTE_CLOSINGS,
    NOTE_FINDINGS,
    NOTE_GENERIC,
    NOTE_OPENINGS,
    PROGRAMME_SUBJECTS,
    SPECIAL_SUBJECTS,
    SUBJECTS,
)
from crm.tasks.models import Task

CHUNK = 20_000
MULTI_SHARE = 0.13  # a CPTS (or DAC, CRT) and 2-4 structures of its department
NEXT_STEP_SHARE = 0.18
NOTES_SHARE = 0.55
ACTIVITY_COLUMNS = (
    "id",
    "kind",
    "occurred_on",
    "duration_minutes",
    "author_id",
    "subject",
    "notes",
    "is_information",
    "next_step",
    "next_step_due_on",
    "created_at",
    "updated_at",
)
TASK_COLUMNS = (
    "id",
    "title",
    "description",
    "due_on",
    "owner_id",
    "structure_id",
    "opportunity_id",
    "project_id",
    "activity_id",
    "source",
    "created_by_id",
    "created_at",
    "done_at",
    "done_by_id",
)
_NO_NEXT_STEP = ("webinaire", "email")
_KIND_POOL = Weighted(list(KINDS), [weight for weight, _, _ in KINDS.values()])
_MULTI_POOL = Weighted(list(MULTI_KINDS), list(MULTI_KINDS.values()))


def _by_name(structure: StructureRef) -> str:
    return structure.name


@dataclass
class Origin:
    """An activity an opportunity may come from."""

    activity_id: int
    day: date
    kind: str
    structure: StructureRef
    offer: OfferRef


@dataclass
class ActivityStats:
    activities: int = 0
    multi: int = 0
    information: int = 0
    tasks: int = 0
    open_tasks: int = 0
    origins: list[Origin] = field(default_factory=list)


def task_done_at(ctx: SeedContext, rng: random.Random, created_at: datetime, due: date | None) -> datetime | None:
    """When a follow-up was done, if it was: nearly always by now when long overdue, rarely early."""
    today = ctx.today
    if due is None or due >= today:
        share = 0.05
    elif due < today - timedelta(days=10):
        share = 0.95
    else:
        share = 0.4
    if rng.random() >= share:
        return None
    day = min(today, max(created_at.date(), (due or today) + timedelta(days=rng.randint(-5, 5))))
    return max(created_at + timedelta(minutes=30), ctx.moment(day, rng))


def write_task_rows(
    ctx: SeedContext, journal: Journal, tasks: list[tuple[TaskRef, str, datetime, int | None]], rng: random.Random
) -> int:
    """Write tasks ``(ref, title, created_at, created_by)`` with their ``task.created`` (and
    ``task.done``) events; returns how many are still open."""
    rows, open_count = [], 0
    for ref, title, created_at, created_by in tasks:
        done_at = task_done_at(ctx, rng, created_at, ref.due_on)
        rows.append(
            (
                ref.id,
                title,
                None,
                ref.due_on,
                ref.owner_id,
                ref.structure_id,
                ref.opportunity_id,
                ref.project_id,
                ref.activity_id,
                ref.source,
                created_by,
                created_at,
                done_at,
                ref.owner_id if done_at else None,
            )
        )
        due = ref.due_on.isoformat() if ref.due_on else None
        journal.record(
            entity_type="task",
            entity_id=ref.id,
            action="create",
            changes={"title": [None, title], "due_on": [None, due]},
            event_type="task.created",
            payload=task_payload(ref),
            user_id=created_by,
            at=created_at,
        )
        if done_at:
            ref.done_at, ref.done_by_id = done_at, ref.owner_id
            journal.record(
                entity_type="task",
                entity_id=ref.id,
                action="update",
                changes={"done": [False, True]},
                event_type="task.done",
                payload=task_payload(ref),
                user_id=ref.owner_id,
                at=done_at,
            )
        else:
            open_count += 1
    journal.loader.write(Task.__table__, TASK_COLUMNS, rows)
    return open_count


class ActivityGenerator:
    """Draws activities one chunk at a time and writes them with their links, tasks and events."""

    def __init__(self, ctx: SeedContext, journal: Journal, *, origin_share: float = 0.0):
        self.ctx, self.journal, self.loader, self.rng = ctx, journal, journal.loader, ctx.rng
        self.origin_share = origin_share
        self.stats = ActivityStats()

    def run(self, total: int, structures: list[StructureRef] | None = None) -> ActivityStats:
        """``total`` activities over the context's structures (or only at ``structures``)."""
        for start in range(0, total, CHUNK):
            self._chunk(min(CHUNK, total - start), structures)
        return self.stats

    def _chunk(self, count: int, only: list[StructureRef] | None) -> None:
        ctx, rng, journal, stats = self.ctx, self.rng, self.journal, self.stats
        random, owner_of, audit = rng.random, ctx.owner_of, journal.with_audit
        ids = self.loader.reserve(Activity.__table__, count)
        primaries = [pick(rng, only) for _ in range(count)] if only else ctx.structures.draws(rng, count)
        days = ctx.days.draws(rng, count)
        kinds = _KIND_POOL.draws(rng, count)
        rows, links, contact_links, offer_links, programme_links, tasks = [], [], [], [], [], []
        department_rows = []
        for activity_id, primary, day, kind in zip(ids, primaries, days, kinds):
            structures, hub = [primary], None
            if not only and random() < MULTI_SHARE:
                hub, structures, kind = self._gathering(primary)
            main = structures[0]  # the hub of a gathering: its animator logs it
            author = owner_of(main)
            offers, programmes = self._topics(main)
            _, info_share, durations = KINDS[kind]
            is_information = random() < info_share
            # Sorted by name as Activity.structures is, so the payload is the service's to the letter.
            listed = sorted(structures, key=_by_name) if hub else structures
            ref = ActivityRef(activity_id, kind, day, is_information, author, listed, offers, programmes)
            subject = self._subject(kind, offers, programmes, hub)
            notes = self._notes(offers) if random() < NOTES_SHARE else None
            next_step = due = None
            if kind not in _NO_NEXT_STEP and random() < NEXT_STEP_SHARE:
                next_step = (
                    pick(rng, NEXT_STEPS).format(offre=offers[0].short) if offers else pick(rng, GENERIC_NEXT_STEPS)
                )
                due = ctx.working_day_after(day, 7 + int(random() * 29))
            created_at = ctx.moment(day, rng)
            rows.append(
                (
                    activity_id,
                    kind,
                    day,
                    pick(rng, durations),
                    author,
                    subject[:200],
                    notes,
                    is_information,
                    next_step,
                    due,
                    created_at,
                    created_at,
                )
            )
            for structure in structures:
                links.append((activity_id, structure.id))
            listed_programmes = [ALL_PROGRAMMES, *sorted({p.id for p in programmes} | {o.programme_id for o in offers})]
            for code in sorted({structure.department_code for structure in structures}):
                department_rows.extend((activity_id, code, programme, kind, day) for programme in listed_programmes)
            for offer in offers:
                offer_links.append((activity_id, offer.id))
            for programme in programmes:
                programme_links.append((activity_id, programme.id))
            if hub is None and main.contact_ids and random() < 0.5:
                picked = rng.sample(main.contact_ids, min(len(main.contact_ids), 2 if kind == "visite" else 1))
                contact_links.extend((activity_id, contact_id) for contact_id in picked)
            changes = (
                {
                    "kind": [None, kind],
                    "occurred_on": [None, day.isoformat()],
                    "structures": [None, [s.id for s in listed]],
                }
                if audit
                else None
            )
            journal.record(
                entity_type="activity",
                entity_id=activity_id,
                action="create",
                changes=changes,
                event_type="activity.logged",
                payload=activity_payload(ref),
                user_id=author,
                at=created_at,
            )
            if next_step and author:
                tasks.append((activity_id, main, author, next_step, due, created_at))
            if offers and self.origin_share and random() < self.origin_share:
                stats.origins.append(Origin(activity_id, day, kind, structures[-1] if hub else main, offers[0]))
            if hub is not None:
                stats.multi += 1
            if is_information:
                stats.information += 1
        write = self.loader.write
        write(Activity.__table__, ACTIVITY_COLUMNS, rows)
        write(activity_structures, ("activity_id", "structure_id"), links)
        write(
            activity_departments,
            ("activity_id", "department_code", "programme_id", "kind", "occurred_on"),
            department_rows,
        )
        write(activity_contacts, ("activity_id", "contact_id"), contact_links)
        write(activity_offers, ("activity_id", "offer_id"), offer_links)
        write(activity_programmes, ("activity_id", "programme_id"), programme_links)
        task_ids = self.loader.reserve(Task.__table__, len(tasks))
        task_rows = [
            (TaskRef(task_id, author, main, due, "activite", activity_id=activity_id), title, created_at, author)
            for task_id, (activity_id, main, author, title, due, created_at) in zip(task_ids, tasks)
        ]
        stats.open_tasks += write_task_rows(ctx, journal, task_rows, rng)
        journal.flush()
        stats.activities += count
        stats.tasks += len(tasks)

    def _gathering(self, primary: StructureRef) -> tuple[StructureRef | None, list[StructureRef], str]:
        """A meeting of a hub (CPTS, DAC, CRT) and 2-4 health or medico-social structures of its department."""
        ctx, rng = self.ctx, self.rng
        hubs, members = ctx.hubs.get(primary.department_code), ctx.members.get(primary.department_code)
        if not hubs or not members:
            return None, [primary], _KIND_POOL.draw(rng)
        hub = pick(rng, hubs)
        seen, structures = {hub.id}, [hub]
        for member in members.draws(rng, rng.randint(2, 4)):
            if member.id not in seen:
                seen.add(member.id)
                structures.append(member)
        if len(structures) < 3:
            return None, [primary], _KIND_POOL.draw(rng)
        return hub, structures, _MULTI_POOL.draw(rng)

    def _topics(self, structure: StructureRef) -> tuple[list, list]:
        ctx, rng = self.ctx, self.rng
        roll = rng.random()
        if roll < 0.10 and ctx.programme_topics:
            return [], [ctx.programme_topics.draw(rng)]
        count = 1 if roll < 0.80 else 2 if roll < 0.97 else 3
        offers = []
        for _ in range(count):
            offer = ctx.offer_for(structure)
            if offer not in offers:
                offers.append(offer)
        return offers, []

    def _subject(self, kind: str, offers: list, programmes: list, hub: StructureRef | None) -> str:
        rng = self.rng
        if not offers:
            label = programmes[0].label if programmes else "e-santé"
            return pick(rng, PROGRAMME_SUBJECTS).format(programme=label)
        offer = offers[0]
        if hub is not None:
            return pick(rng, MULTI_SUBJECTS).format(hub=hub.name, offre=offer.short)
        special = SPECIAL_SUBJECTS.get((kind, offer.code))
        if special and rng.random() < 0.6:
            return special
        return pick(rng, SUBJECTS[kind]).format(offre=offer.short)

    def _notes(self, offers: list) -> str:
        rng = self.rng
        programme = self.ctx.programme_of_offer.get(offers[0].id) if offers else None
        return " ".join(
            (
                pick(rng, NOTE_OPENINGS),
                pick(rng, NOTE_FINDINGS.get(programme) or NOTE_GENERIC),
                pick(rng, NOTE_CLOSINGS),
            )
        )
