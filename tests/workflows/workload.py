"""Domain events written the way users write them: through the services (activities, opportunities,
registrations), interleaved, so that batches mix event types and aggregates."""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import func, select

from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.models import OutboxEvent, utcnow

DEPARTMENTS = ("31", "81", "82")


def _reference():
    from crm.events.models import EventType
    from crm.pipeline.models import LossReason
    from crm.referential.models import Offer, Programme, Sector

    return {
        "sectors": [
            s.id for s in db.session.scalars(select(Sector).where(Sector.code.in_(("sanitaire", "medico_social"))))
        ]
        or [s.id for s in db.session.scalars(select(Sector))],
        "offers": list(db.session.scalars(select(Offer.id).order_by(Offer.id))),
        "programmes": list(db.session.scalars(select(Programme.id).order_by(Programme.id))),
        "loss_reason": db.session.scalar(select(LossReason.id).where(LossReason.active.is_(True))),
        "event_type": db.session.scalar(select(EventType.id)),
    }


class Workload:
    """A few animators, structures and events; then ``write(n)`` writes about ``n`` events."""

    def __init__(self, make_user, make_structure, *, seed: int = 5, structures: int = 30):
        self.rng = random.Random(seed)
        self.ref = _reference()
        self.animators = [make_user("animateur", list(DEPARTMENTS)) for _ in range(3)]
        self.organiser = make_user("organisateur")
        self.organiser_id = self.organiser.id
        # Plain values, not ORM objects: every commit expires those, and reading them again would cost
        # a query each.
        self.structures = []
        for i in range(structures):
            structure = make_structure(
                name=f"Structure {i}",
                department_code=self.rng.choice(DEPARTMENTS),
                sector_id=str(self.rng.choice(self.ref["sectors"])),
                commune="Commune",
            )
            self.structures.append((structure.id, structure.department_code))
        db.session.commit()
        self.events = [self._event(i) for i in range(3)]
        self.opportunities: dict[int, str] = {}  # id -> stage
        self.registrations: dict[int, str] = {}  # id -> status

    def _event(self, index: int):
        from crm.events import services as events

        # Started minutes ago: attendance is recorded from the event's day on, never ahead of it.
        start = utcnow().replace(microsecond=0) - timedelta(minutes=1 + index)
        event = events.create_event(
            {
                "type_id": self.ref["event_type"],
                "title": f"Atelier {index}",
                "starts_at": start,
                "ends_at": start + timedelta(hours=3),
                "place_name": "Salle",
                "department_code": DEPARTMENTS[index % 3],
                "capacity": 40,
                "programme_ids": [self.ref["programmes"][index]],
                # Presented to those who come: the offer cells move with the attendance.
                "offer_ids": [self.ref["offers"][index]],
            },
            user=self.organiser,
        )
        events.change_status(event, "publie", user=self.organiser)
        return event.id

    # one user action each -----------------------------------------------------------------------

    def activity(self):
        from crm.activities.services import log_activity

        structures = self.rng.sample(self.structures, self.rng.choice((1, 1, 2)))
        log_activity(
            {
                "kind": self.rng.choice(("visite", "appel", "reunion", "webinaire")),
                "occurred_on": (local_today() - timedelta(days=self.rng.randrange(200))).isoformat(),
                "structure_ids": [structure_id for structure_id, _department in structures],
                "is_information": self.rng.random() < 0.5,
                "offer_ids": self.rng.sample(self.ref["offers"], self.rng.choice((0, 1, 2))),
                "programme_ids": self.rng.sample(self.ref["programmes"], self.rng.choice((0, 1))),
            },
            user=self.rng.choice(self.animators),
        )

    def opportunity(self):
        from crm.pipeline import services as pipeline

        structure_id, _department = self.rng.choice(self.structures)
        opportunity = pipeline.create_opportunity(
            {"structure_id": structure_id, "offer_id": self.rng.choice(self.ref["offers"]), "title": "Besoin repéré"},
            user=self.rng.choice(self.animators),
        )
        self.opportunities[opportunity.id] = opportunity.stage

    def stage_change(self):
        from crm.pipeline import services as pipeline
        from crm.pipeline.models import Opportunity

        open_ones = [
            id_ for id_, stage in self.opportunities.items() if stage in ("identifiee", "qualifiee", "proposee")
        ]
        if not open_ones:
            return self.opportunity()
        opportunity = db.session.get(Opportunity, self.rng.choice(open_ones))
        following = {"identifiee": "qualifiee", "qualifiee": "proposee"}.get(opportunity.stage)
        to_stage = following or self.rng.choice(("gagnee", "perdue"))
        pipeline.change_stage(
            opportunity,
            to_stage,
            user=self.animators[0],
            reason_id=self.ref["loss_reason"] if to_stage == "perdue" else None,
        )
        self.opportunities[opportunity.id] = to_stage

    def registration(self):
        from crm.events.models import Event
        from crm.events.registration.registrations import register

        event = db.session.get(Event, self.rng.choice(self.events))
        structure_id, department = self.rng.choice(self.structures)
        n = len(self.registrations)
        registration, outcome = register(
            event,
            {
                "first_name": "Camille",
                "last_name": f"Inscrite {n}",
                "email": f"inscrite{n}@example.org",
                "structure_id": str(structure_id),
                "structure_name": "",
                "department_code": department,
            },
            source="back_office",
            user_id=self.organiser_id,
        )
        self.registrations[registration.id] = outcome

    def attendance(self):
        from crm.events.models import Registration
        from crm.events.registration.checkin import mark_attendance
        from crm.events.registration.registrations import cancel

        candidates = [id_ for id_, status in self.registrations.items() if status == "inscrit"]
        if not candidates:
            return self.registration()
        registration = db.session.get(Registration, self.rng.choice(candidates))
        if self.rng.random() < 0.2:
            for promoted in cancel(registration, user_id=self.organiser_id):
                self.registrations[promoted.id] = "inscrit"
            self.registrations[registration.id] = "annule"
        else:
            status = self.rng.choice(("present", "present", "absent"))
            mark_attendance(registration, status, user_id=self.organiser_id)
            self.registrations[registration.id] = status

    def write(self, events: int) -> int:
        """Write at least ``events`` outbox events, mixed; returns the outbox's total."""
        actions = (
            [self.activity] * 10
            + [self.opportunity] * 2
            + [self.stage_change] * 2
            + [self.registration] * 3
            + [self.attendance]
        )
        start = outbox_total()
        while outbox_total() - start < events:
            for _ in range(50):
                self.rng.choice(actions)()
        return outbox_total()


def outbox_total() -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(OutboxEvent))
