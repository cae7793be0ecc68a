"""The organisers' year, 2024 in spirit: the TOP e-santé tour (six days in six departments),
27 webinars that trained about 1,500 professionals, Rendez-vous ESMS numérique and workshops,
with their registrations and attendance; plus two upcoming events open for registration.

Registrants are drawn from the seeded contacts (matched to their contact and structure), from
people at known structures, and a few with a structure typed by hand (left for an animator to
match). Events go through the ORM; registrations and their domain events in bulk (see
``crm.seed.loader``). Idempotent: once the "TOP e-santé 2024" series exists nothing is added.
"""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from crm.accounts.models import User
from crm.events.models import Event, EventSeries, EventType, Registration
from crm.events.payloads import event_payload, registration_payload
from crm.platform.dates import local_today
from crm.platform.extensions import db
from crm.platform.formatting import PARIS, format_number, format_percent
from crm.platform.models import AuditEntry, OutboxEvent
from crm.platform.text import fold
from crm.referential.models import Department
from crm.seed.context import SeedContext
from crm.seed.loader import Loader
from crm.seed.payloads import Journal, StructureRef
from crm.seed.people import FIRST_NAMES, LAST_NAMES
from crm.structures.models import Contact

SERIES_TITLE = "TOP e-santé 2024"
# The tour of 2024: department, day, town, venue.
TOP_DAYS = (
    ("31", date(2024, 3, 21), "Toulouse", "Hôtel de Région, 22 boulevard du Maréchal Juin"),
    ("81", date(2024, 4, 18), "Albi", "Maison de la santé du Tarn, avenue du Général de Gaulle"),
    ("82", date(2024, 5, 23), "Montauban", "Centre de congrès Eurythmie, rue Salvador Allende"),
    ("32", date(2024, 6, 20), "Auch", "Salle du Mouzon, place de l'Ancien Foirail"),
    ("09", date(2024, 9, 26), "Foix", "Espace Olympe de Gouges, rue Paul Laffont"),
    ("65", date(2024, 10, 17), "Tarbes", "Parc des expositions, boulevard Kennedy"),
)
WEBINAR_TOPICS = (
    "Identité nationale de santé (INS) : qualifier l'identité",
    "INS en établissement médico-social : les bons réflexes",
    "INS et rapprochement d'identités : questions-réponses",
    "DMP : alimenter le dossier médical partagé depuis votre logiciel",
    "DMP en EHPAD : consulter et alimenter",
    "DMP et documents de sortie d'hospitalisation",
    "RPPS+ : l'enregistrement des professionnels du social et du médico-social",
    "Messagerie sécurisée de santé (MSS) : premiers pas",
    "MSS : échanger avec la ville depuis l'établissement",
    "MSS citoyenne et Mon espace santé",
    "Mon espace santé : accompagner les usagers",
    "Mon espace santé pour les professionnels du domicile",
    "ViaTrajectoire grand âge : la demande d'admission en EHPAD",
    "ViaTrajectoire handicap : orientations MDPH",
    "ViaTrajectoire sanitaire : demandes de SSR et d'HAD",
    "SPICO : coordonner les parcours complexes avec le DAC",
    "SPICO Dossiers : le dossier de coordination partagé",
    "SPICO Agenda : rappels de rendez-vous aux usagers",
    "Programme ESMS numérique : candidater en grappe",
    "ESMS numérique : choisir et déployer un dossier usager informatisé",
    "Cybersécurité : se préparer à une crise cyber",
    "Cybersécurité : sensibiliser les équipes à l'hameçonnage",
    "Télésanté : organiser la téléconsultation en EHPAD",
    "Télé-expertise : les usages en Occitanie",
    "E-prescription : l'ordonnance numérique",
    "PRADO : le retour à domicile après hospitalisation",
    "Ségur du numérique : le référencement des logiciels",
)
RDV_ESMS = (
    ("11", date(2024, 2, 8), "Carcassonne"),
    ("12", date(2024, 2, 29), "Rodez"),
    ("30", date(2024, 3, 7), "Nîmes"),
    ("34", date(2024, 3, 14), "Montpellier"),
    ("46", date(2024, 4, 4), "Cahors"),
)
WORKSHOPS = (
    ("66", date(2024, 11, 14), "Exercice de crise cyber en établissement", "Perpignan"),
    ("48", date(2024, 11, 28), "Atelier Mon espace santé avec les ambassadeurs", "Mende"),
    ("31", date(2024, 12, 5), "Atelier référents structure ViaTrajectoire", "Toulouse"),
    ("34", date(2024, 12, 12), "Atelier télésanté en EHPAD", "Montpellier"),
)
FUNCTIONS = (
    "Directeur·rice",
    "Cadre de santé",
    "Infirmier·ère coordinateur·rice",
    "Médecin coordonnateur",
    "Secrétaire médicale",
    "Assistante sociale",
    "Responsable qualité",
    "Référent·e numérique",
    "Chargé·e de mission",
    "Coordinatrice de parcours",
    "Pharmacien·ne",
    "Ergothérapeute",
)
# (share present, share excused, share cancelled) of the registrations of a past event.
ATTENDANCE = {
    "top_esante": (0.84, 0.05, 0.04),
    "webinaire": (0.72, 0.02, 0.05),
    "rdv_esms_numerique": (0.86, 0.04, 0.03),
    "atelier": (0.9, 0.05, 0.0),
}
# Satisfaction of the webinars' and days' participants: "89 % jugent que les webinaires sont utiles".
USEFUL_SHARE, ANSWER_SHARE = 0.89, 0.45
COMMENTS = (
    "Très clair, merci.",
    "Des exemples concrets, utiles pour l'équipe.",
    "Un peu rapide sur la fin.",
    "J'aurais aimé plus de temps pour les questions.",
    "Enfin des réponses sur l'INS !",
    "Intervenants disponibles et concrets.",
    "Le support serait utile en amont.",
)
SURVEY_COLUMNS = ("id", "registration_id", "event_id", "useful", "score", "comment", "answered_at")
REGISTRATION_COLUMNS = (
    "id",
    "event_id",
    "first_name",
    "last_name",
    "email",
    "email_key",
    "name_key",
    "function",
    "structure_id",
    "structure_name",
    "department_code",
    "contact_id",
    "consent_contact",
    "status",
    "source",
    "registered_at",
    "cancelled_at",
    "promoted_at",
    "attended_at",
    "token_expires_at",
    "updated_at",
    "version",
)


@dataclass(slots=True, eq=False)
class RegistrationRef:
    """What ``registration_payload`` reads of a registration, without an ORM object per row."""

    id: int
    event_id: int
    structure: StructureRef | None
    structure_id: int | None
    contact_id: int | None
    department_code: str | None
    status: str
    source: str
    registered_at: datetime
    cancelled_at: datetime | None = None
    promoted_at: datetime | None = None
    attended_at: datetime | None = None


def _paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), PARIS).astimezone(UTC)


class EventSeeder:
    def __init__(self, department_codes: list[str]):
        self.rng = random.Random("events-2024")
        self.types = {t.code: t for t in db.session.scalars(select(EventType))}
        self.ctx = SeedContext(department_codes, seed="events-2024")
        self.by_department: dict[str, list[StructureRef]] = {}
        for ref in self.ctx.all_structures:
            if ref.is_open:
                self.by_department.setdefault(ref.department_code, []).append(ref)
        self.refs = {ref.id: ref for ref in self.ctx.all_structures}
        self.contacts = db.session.execute(
            select(
                Contact.id, Contact.structure_id, Contact.first_name, Contact.last_name, Contact.email, Contact.function
            )
            .where(Contact.erased_at.is_(None), Contact.email.is_not(None))
            .order_by(Contact.id)
        ).all()
        self.organisers = list(
            db.session.scalars(
                select(User.id).where(User.role == "organisateur", User.active.is_(True)).order_by(User.id)
            )
        )
        self.loader = Loader([Registration.__table__, OutboxEvent.__table__, AuditEntry.__table__])
        self.journal = Journal(self.loader)
        self.registrations = self.present = self.answers = self.useful = 0
        # The survey's table comes with the attendance work; without it, no answers are seeded.
        self.survey_table = db.metadata.tables.get("survey_responses")
        self.survey_rows: list[tuple] = []

    # --- events ----------------------------------------------------------------------------------

    def event(
        self,
        type_code: str,
        title: str,
        start: datetime,
        end: datetime,
        *,
        department: str | None = None,
        place: str | None = None,
        address: str | None = None,
        online: bool = False,
        capacity: int | None = None,
        series: EventSeries | None = None,
        status: str = "clos",
    ) -> Event:
        organiser_id = self.organisers[len(title) % len(self.organisers)] if self.organisers else None
        event = Event(
            type_id=self.types[type_code].id,
            title=title,
            starts_at=start,
            ends_at=end,
            department_code=department,
            place_name=place,
            address=address,
            capacity=capacity,
            online_url=f"https://visio.esante-occitanie.fr/{secrets.token_hex(5)}" if online else None,
            organiser_id=organiser_id,
            created_by_id=organiser_id,
            status=status,
            series=series,
            uid=f"{uuid.uuid4().hex}@maillage",
            slug=secrets.token_urlsafe(9),
            sequence=0,
            registration_closes_at=start,
            description=f"{self.types[type_code].label} – {title}.",
        )
        db.session.add(event)
        db.session.flush()
        created = start - timedelta(days=45)
        steps = [
            ("event.created", "create", {"title": [None, title], "status": [None, "brouillon"]}, created),
            ("event.published", "update", {"status": ["brouillon", "publie"]}, created + timedelta(days=2)),
        ]
        if status == "clos":
            steps.append(("event.ended", "update", {"status": ["publie", "clos"]}, end + timedelta(days=1)))
        for event_type, action, changes, at in steps:
            self.journal.record(
                entity_type="event",
                entity_id=event.id,
                action=action,
                changes=changes,
                event_type=event_type,
                payload=event_payload(event),
                user_id=organiser_id,
                at=at,
            )
        return event

    # --- people ----------------------------------------------------------------------------------

    def _people(self, count: int, departments: list[str] | None):
        """``count`` distinct registrants: contacts first, then people at known structures, a few by hand."""
        pool = [
            c
            for c in self.contacts
            if departments is None
            or (self.refs.get(c.structure_id) and self.refs[c.structure_id].department_code in departments)
        ]
        seen, people = set(), []
        for c in self.rng.sample(pool, min(len(pool), round(count * 0.55))):
            if c.email.lower() not in seen:  # two contacts may share an address: one registration per email
                seen.add(c.email.lower())
                people.append(
                    dict(
                        first_name=c.first_name or "Camille",
                        last_name=c.last_name or "Martin",
                        email=c.email,
                        function=c.function or self.rng.choice(FUNCTIONS),
                        structure=self.refs.get(c.structure_id),
                        contact_id=c.id,
                    )
                )
        structures = [s for d in (departments or list(self.by_department)) for s in self.by_department.get(d, [])]
        while len(people) < count:
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            structure = self.rng.choice(structures) if structures and self.rng.random() < 0.88 else None
            domain = "ehpad-occitanie.fr" if structure is None else f"structure{structure.id}.fr"
            email = f"{fold(first).replace(' ', '-')}.{fold(last).replace(' ', '-')}{len(people)}@{domain}"
            people.append(
                dict(
                    first_name=first,
                    last_name=last,
                    email=email,
                    function=self.rng.choice(FUNCTIONS),
                    structure=structure,
                    contact_id=None,
                    structure_name=None if structure else f"Résidence {self.rng.choice(LAST_NAMES)}",
                    department_code=(departments or ["31"])[0] if structure is None else None,
                )
            )
        return people

    def register(
        self, event: Event, count: int, *, departments: list[str] | None, type_code: str, past: bool = True
    ) -> None:
        people = self._people(count, departments)
        ids = self.loader.reserve(Registration.__table__, len(people))
        present, excused, cancelled = ATTENDANCE[type_code]
        rows = []
        for reg_id, person in zip(ids, people):
            structure = person["structure"]
            at = event.starts_at - timedelta(days=self.rng.randint(1, 40), minutes=self.rng.randint(0, 600))
            ref = RegistrationRef(
                reg_id,
                event.id,
                structure,
                structure.id if structure else None,
                person["contact_id"],
                structure.department_code if structure else person.get("department_code"),
                "inscrit",
                "public",
                at,
            )
            self.journal.record(
                entity_type="registration",
                entity_id=reg_id,
                action="create",
                changes={"status": [None, "inscrit"]},
                event_type="registration.created",
                payload=registration_payload(ref, event),
                user_id=None,
                at=at,
            )
            if past:
                draw = self.rng.random()
                status = (
                    "present"
                    if draw < present
                    else "excuse"
                    if draw < present + excused
                    else "annule"
                    if draw < present + excused + cancelled
                    else "absent"
                )
                ref.status = status
                if status == "annule":
                    ref.cancelled_at = at + timedelta(days=1)
                    self.journal.record(
                        entity_type="registration",
                        entity_id=reg_id,
                        action="update",
                        changes={"status": ["inscrit", "annule"]},
                        event_type="registration.cancelled",
                        payload=registration_payload(ref, event),
                        user_id=None,
                        at=ref.cancelled_at,
                    )
                else:
                    ref.attended_at = event.starts_at if status == "present" else None
                    self.journal.record(
                        entity_type="registration",
                        entity_id=reg_id,
                        action="update",
                        changes={"status": ["inscrit", status]},
                        event_type="attendance.recorded",
                        payload=registration_payload(ref, event),
                        user_id=event.organiser_id,
                        at=event.ends_at,
                    )
                self.present += status == "present"
                if status == "present" and self.survey_table is not None and self.rng.random() < ANSWER_SHARE:
                    self._answer(ref, event)
            rows.append(
                (
                    reg_id,
                    event.id,
                    person["first_name"],
                    person["last_name"],
                    person["email"],
                    person["email"].lower(),
                    fold(f"{person['last_name']} {person['first_name']}")[:170],
                    person["function"],
                    ref.structure_id,
                    person.get("structure_name"),
                    ref.department_code,
                    ref.contact_id,
                    self.rng.random() < 0.7,
                    ref.status,
                    "public",
                    at,
                    ref.cancelled_at,
                    None,
                    ref.attended_at,
                    event.ends_at,
                    at,
                    1,
                )
            )
        self.loader.write(Registration.__table__, REGISTRATION_COLUMNS, rows)
        self.registrations += len(rows)

    def _answer(self, ref: RegistrationRef, event: Event) -> None:
        useful = self.rng.random() < USEFUL_SHARE
        score = self.rng.choice((4, 4, 5, 5, 5, 3) if useful else (1, 2, 2, 3))
        comment = self.rng.choice(COMMENTS) if self.rng.random() < 0.25 else None
        at = event.ends_at + timedelta(days=self.rng.randint(1, 10), hours=self.rng.randint(0, 8))
        self.survey_rows.append((ref.id, event.id, useful, score, comment, at))
        self.journal.record(
            entity_type="registration",
            entity_id=ref.id,
            action="survey",
            changes={"useful": [None, useful], "score": [None, score]},
            event_type="survey.answered",
            payload={**registration_payload(ref, event), "useful": useful, "score": score},
            user_id=None,
            at=at,
        )
        self.answers += 1
        self.useful += useful

    # --- the year --------------------------------------------------------------------------------

    def run(self) -> list[str]:
        series = EventSeries(
            title=SERIES_TITLE,
            description="Tour d'Occitanie des Pratiques e-santé : une "
            "journée par territoire pour partager les usages du numérique en santé.",
        )
        db.session.add(series)
        names = dict(db.session.execute(select(Department.code, Department.name)).all())
        for code, day, town, venue in TOP_DAYS:
            event = self.event(
                "top_esante",
                f"TOP e-santé {names.get(code, code)}",
                _paris(day, 9),
                _paris(day, 16, 30),
                department=code,
                place=venue.split(",")[0],
                address=f"{venue}, {town}",
                capacity=150,
                series=series,
            )
            self.register(event, self.rng.randint(80, 110), departments=[code], type_code="top_esante")
        webinar_day = date(2024, 1, 16)
        for topic in WEBINAR_TOPICS:
            event = self.event(
                "webinaire", topic, _paris(webinar_day, 11), _paris(webinar_day, 12), online=True, capacity=300
            )
            self.register(event, self.rng.randint(60, 95), departments=None, type_code="webinaire")
            webinar_day += timedelta(days=self.rng.choice((9, 12, 14)))
        for code, day, town in RDV_ESMS:
            event = self.event(
                "rdv_esms_numerique",
                f"Rendez-vous ESMS numérique – {names.get(code, code)}",
                _paris(day, 14),
                _paris(day, 17),
                department=code,
                place=f"Salle du conseil, {town}",
                address=town,
                capacity=60,
            )
            self.register(event, self.rng.randint(25, 40), departments=[code], type_code="rdv_esms_numerique")
        for code, day, title, town in WORKSHOPS:
            event = self.event(
                "atelier",
                title,
                _paris(day, 9, 30),
                _paris(day, 12, 30),
                department=code,
                place=f"Salle de formation, {town}",
                address=town,
                capacity=20,
            )
            self.register(event, self.rng.randint(12, 20), departments=[code], type_code="atelier")
        soon = local_today() + timedelta(days=21)
        upcoming = self.event(
            "webinaire",
            "DMP et Mon espace santé : les nouveautés",
            _paris(soon, 11),
            _paris(soon, 12),
            online=True,
            capacity=300,
            status="publie",
        )
        self.register(upcoming, 45, departments=None, type_code="webinaire", past=False)
        later = soon + timedelta(days=21)
        self.event(
            "top_esante",
            "TOP e-santé Hérault",
            _paris(later, 9),
            _paris(later, 16, 30),
            department="34",
            place="Hôtel de Région",
            address="201 avenue de la Pompignane, Montpellier",
            capacity=120,
            status="publie",
        )
        if self.survey_rows:
            ids = self.loader.reserve(self.survey_table, len(self.survey_rows))
            self.loader.write(
                self.survey_table, SURVEY_COLUMNS, [(answer_id, *row) for answer_id, row in zip(ids, self.survey_rows)]
            )
        self.journal.flush()
        self.loader.finish()
        db.session.commit()
        return [
            f"Événements : série « {SERIES_TITLE} » ({len(TOP_DAYS)} journées), {len(WEBINAR_TOPICS)} webinaires, "
            f"{len(RDV_ESMS)} Rendez-vous ESMS numérique, {len(WORKSHOPS)} ateliers et 2 événements à venir ; "
            f"{format_number(self.registrations)} inscriptions dont {format_number(self.present)} présences"
            + (
                f", {format_number(self.answers)} réponses à l'enquête de satisfaction "
                f"({format_percent(self.useful / self.answers)} utiles)."
                if self.answers
                else "."
            )
        ]


def seed_events(department_codes: list[str], echo=print) -> list[str]:
    """Seed the organisers' year once; returns French report lines."""
    if db.session.scalar(select(EventSeries.id).where(EventSeries.title == SERIES_TITLE)) is not None:
        return [f"Événements : la série « {SERIES_TITLE} » existe déjà, rien d'ajouté."]
    if not db.session.scalar(select(EventType.id).limit(1)):
        return ["Événements : aucun type d'événement dans les référentiels, rien d'ajouté."]
    echo("Événements, inscriptions et présences…")
    try:
        return EventSeeder(department_codes).run()
    except BaseException:
        db.session.rollback()
        raise
