"""Events (TOP e-santé days, webinars...), their series, and the registrations to them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.referential import kinds as reference_kinds

EVENT_STATUSES = {"brouillon": "Brouillon", "publie": "Publié", "clos": "Clos", "annule": "Annulé"}
REGISTRATION_STATUSES = {
    "inscrit": "Inscrit",
    "attente": "Liste d'attente",
    "annule": "Annulé",
    "present": "Présent",
    "absent": "Absent",
    "excuse": "Excusé",
}
# Statuses that hold a seat: the capacity counts them.
SEAT_STATUSES = ("inscrit", "present")
ATTENDANCE_STATUSES = ("present", "absent", "excuse")
REGISTRATION_SOURCES = {
    "public": "Page publique",
    "back_office": "Saisie par l'équipe",
    "import": "Import",
    "api": "API",
}
# An anonymised registration's address ends with "@" + this (crm.events.followup.retention writes it):
# .invalid never resolves (RFC 2606), so no message can reach it.
ANONYMOUS_DOMAIN = "anonyme.invalid"


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes: they were stored in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


event_programmes = Table(
    "event_programmes",
    db.metadata,
    Column("event_id", ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("programme_id", ForeignKey("programmes.id", ondelete="CASCADE"), primary_key=True),
)
event_offers = Table(
    "event_offers",
    db.metadata,
    Column("event_id", ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("offer_id", ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True),
)


class EventType(db.Model):
    """TOP e-santé, webinaire, Rendez-vous ESMS numérique...: an editable list."""

    __tablename__ = "event_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


# Admins edit the list on the reference pages, which seed it from reference.json.
reference_kinds.register(
    "types-evenement",
    reference_kinds.Kind(
        EventType,
        "Types d'événement",
        "id",
        [
            ("code", "Code", "code", None),
            ("label", "Libellé", "text", None),
            ("position", "Ordre d'affichage", "int", None),
            ("active", "Actif", "bool", None),
        ],
        (EventType.position, EventType.label),
        position=70,
        seed=reference_kinds.Seed(
            "event_types", "code", lambda position, row: {"code": row[0], "label": row[1], "position": position}
        ),
    ),
)


class EventSeries(db.Model):
    """Events that belong together: a TOP e-santé tour is one day in each of several departments."""

    __tablename__ = "event_series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    events: Mapped[list[Event]] = relationship(back_populates="series", order_by="Event.starts_at")


class Event(db.Model):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("event_types.id"))
    series_id: Mapped[int | None] = mapped_column(ForeignKey("event_series.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # Stored in UTC; entered and shown in Europe/Paris.
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    place_name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    online_url: Mapped[str | None] = mapped_column(String(500))
    # None: unlimited.
    capacity: Mapped[int | None] = mapped_column(Integer)
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    registration_opens_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    registration_closes_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="brouillon")
    # iCalendar: a stable UID, and SEQUENCE raised on every change that matters to an attendee.
    uid: Mapped[str] = mapped_column(String(120), unique=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # The public page's address: unguessable, so a draft is not found by counting.
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    type: Mapped[EventType] = relationship(lazy="joined")
    series: Mapped[EventSeries | None] = relationship(back_populates="events")
    department = relationship("Department", lazy="joined")
    # Loaded when shown: a joined load would also pull the user's departments on every registration.
    organiser = relationship("User", foreign_keys=[organiser_id])
    programmes = relationship("Programme", secondary=event_programmes, order_by="Programme.number")
    offers = relationship("Offer", secondary=event_offers, order_by="Offer.label")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_events_starts_at", "starts_at"),
        Index("ix_events_status_starts_at", "status", "starts_at"),
        Index("ix_events_department", "department_code", "starts_at"),
        Index("ix_events_type", "type_id", "starts_at"),
    )

    @property
    def status_label(self) -> str:
        return EVENT_STATUSES.get(self.status, self.status)

    @property
    def is_online(self) -> bool:
        return bool(self.online_url) and not self.place_name

    def phase(self, now: datetime | None = None) -> str:
        """Where the event stands, for what its page shows: "brouillon", "annule", "a_venir", "en_cours"
        (published, started, not ended) or "termine" (closed, or published and ended)."""
        if self.status in ("brouillon", "annule"):
            return self.status
        if self.status == "clos":
            return "termine"
        now = now or utcnow()
        if now >= as_utc(self.ends_at):
            return "termine"
        return "en_cours" if now >= as_utc(self.starts_at) else "a_venir"


class Registration(db.Model):
    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    # As typed; ``email_key`` is its lower-cased form: one registration per email and event.
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254))
    # Folded "last first" for the check-in search.
    name_key: Mapped[str] = mapped_column(String(170), default="")
    function: Mapped[str | None] = mapped_column(String(120))
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("structures.id", ondelete="SET NULL"), index=True)
    # When the structure is not a known one: its name as typed and its department.
    structure_name: Mapped[str | None] = mapped_column(String(255))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    consent_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="inscrit")
    source: Mapped[str] = mapped_column(String(20), default="public")
    # The client address of a public registration: the rate limit counts by it.
    client_ip: Mapped[str | None] = mapped_column(String(45))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Only the sha256 of the personal link's token: the token itself is in the email alone.
    cancel_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    # The event is usually in the session already (the identity map answers without a query).
    event: Mapped[Event] = relationship()
    structure = relationship("Structure", lazy="joined")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("event_id", "email_key", name="uq_registrations_event_email"),
        Index("ix_registrations_event_status", "event_id", "status", "registered_at", "id"),
        Index("ix_registrations_event_name", "event_id", "name_key"),
        Index("ix_registrations_client_ip", "client_ip", "registered_at"),
    )

    @property
    def status_label(self) -> str:
        return REGISTRATION_STATUSES.get(self.status, self.status)

    @property
    def source_label(self) -> str:
        return REGISTRATION_SOURCES.get(self.source, self.source)

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def structure_label(self) -> str:
        if self.structure is not None:
            return self.structure.name
        return self.structure_name or ""
