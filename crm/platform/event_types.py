"""The catalogue of domain event types: every type a service writes to the outbox, its payload's fields
and what it means.

A consumer (a workflow rule, the indicators' read model) subscribes to these names; a type written
nowhere here is refused at the write (:func:`require_known`), so a typo or a renamed type fails where
it is made instead of leaving its consumers silently without events.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    """One kind of domain event: the keys of its payload and a one-line meaning."""

    fields: tuple[str, ...]
    meaning: str


class UnknownEventType(ValueError):
    """An outbox write named a type the catalogue does not hold."""


# The payloads shared by the events of one record (the *_payload functions of each domain).
STRUCTURE = ("structure_id", "finess_et", "department", "sector", "category", "is_open")
CONTACT = ("contact_id", "structure_id", "department", "consent")
OPPORTUNITY = (
    "opportunity_id",
    "structure_id",
    "department",
    "sector",
    "programme_id",
    "offer_id",
    "owner_id",
    "source",
    "stage",
    "identified_on",
)
PROJECT = (
    "project_id",
    "structure_id",
    "department",
    "sector",
    "programme_id",
    "offer_id",
    "opportunity_id",
    "status",
    "started_on",
    "ended_on",
    "owner_id",
)
TASK = (
    "task_id",
    "owner_id",
    "structure_id",
    "department",
    "due_on",
    "source",
    "opportunity_id",
    "project_id",
    "activity_id",
    "event_id",
    "done_at",
    "done_by_id",
)
ACTIVITY = (
    "activity_id",
    "kind",
    "occurred_on",
    "is_information",
    "author_id",
    "structures",
    "programme_ids",
    "offer_ids",
)
EVENT = (
    "event_id",
    "event_type",
    "department",
    "programme_ids",
    "offer_ids",
    "series_id",
    "status",
    "starts_at",
    "ends_at",
    "capacity",
    "organiser_id",
    "sequence",
)
REGISTRATION = (
    "event_id",
    "event_type",
    "department",
    "programme_ids",
    "offer_ids",
    "series_id",
    "starts_at",
    "ends_at",
    "structure_department",
    "structure_sector",
    "registration_id",
    "status",
    "source",
    "structure_id",
    "contact_id",
    "registered_at",
    "cancelled_at",
    "promoted_at",
    "attended_at",
)
USER = ("user_id", "role", "departments")
REFERENT = ("referent_id", "contact_id", "structure_id", "department", "offer_id", "started_on", "ended_on")
GRAPPE = ("grappe_id", "name", "lead_structure_id", "department", "status", "created_on", "member_ids")
APPLICATION = (
    "application_id",
    "programme",
    "call",
    "status",
    "structure_id",
    "grappe_id",
    "amount_requested",
    "amount_granted",
)
STRUCTURE_LINK = ("link_id", "structure_a_id", "structure_b_id", "type_id", "type")
TARGET = ("target_id", "indicator", "year", "department", "programme_id", "value", "previous_value")


EVENT_TYPES: dict[str, EventType] = {
    # Structures and their contacts
    "structure.created": EventType(STRUCTURE, "A structure was created (by hand, the API, or the FINESS import)."),
    "structure.updated": EventType(STRUCTURE + ("changed",), "A structure's fields changed; `changed` lists them."),
    "structure.closed": EventType(STRUCTURE + ("changed",), "A structure closed (by hand or absent from FINESS)."),
    "structure.deleted": EventType(STRUCTURE, "A structure was deleted."),
    "contact.created": EventType(CONTACT, "A contact was added to a structure."),
    "contact.updated": EventType(CONTACT, "A contact's details or consent changed."),
    "contact.deleted": EventType(CONTACT, "A contact was deleted."),
    "contact.erased": EventType(CONTACT, "A contact's personal data was erased at their request (GDPR)."),
    "import_run.closures_confirmed": EventType(
        ("import_run_id", "confirmed_closures"), "An admin confirmed the closures a FINESS import held back."
    ),
    # Pipeline
    "opportunity.created": EventType(OPPORTUNITY, "A need was identified at a structure."),
    "opportunity.updated": EventType(OPPORTUNITY, "An opportunity's fields changed, not its stage."),
    "opportunity.stage_changed": EventType(
        OPPORTUNITY + ("from_stage", "to_stage", "changed_at", "reason_id"),
        "An opportunity moved from one stage to another (won, lost...).",
    ),
    "project.created": EventType(PROJECT, "A project started (often from a won opportunity)."),
    "project.updated": EventType(PROJECT + ("from_status",), "A project's fields changed, not its status."),
    "project.status_changed": EventType(PROJECT + ("from_status",), "A project's status changed (done, abandoned...)."),
    "project.milestone_added": EventType(PROJECT + ("milestone_id",), "A milestone was added to a project."),
    "project.milestone_done": EventType(PROJECT + ("milestone_id",), "A project's milestone was reached."),
    "project.milestone_reopened": EventType(PROJECT + ("milestone_id",), "A reached milestone was set back to do."),
    # Activities and tasks
    "activity.logged": EventType(ACTIVITY, "An activity (call, meeting, visit...) was logged."),
    "activity.updated": EventType(ACTIVITY, "A logged activity was corrected."),
    "activity.deleted": EventType(("previous",), "An activity was deleted; `previous` is its last payload."),
    "task.created": EventType(TASK, "A task was created (by hand or by a workflow rule)."),
    "task.updated": EventType(TASK, "A task's title, due date or owner changed."),
    "task.done": EventType(TASK, "A task was marked done."),
    "task.reopened": EventType(TASK, "A done task was reopened."),
    # Events (the agency's meetings, webinars, workshops)
    "event.created": EventType(
        EVENT + ("duplicated_from",), "An event was created, or duplicated from another (`duplicated_from`)."
    ),
    "event.changed": EventType(EVENT + ("fields",), "An event's fields changed; `fields` lists them."),
    "event.published": EventType(EVENT + ("from_status",), "An event was published: registrations open."),
    "event.ended": EventType(EVENT + ("from_status",), "An event was closed after it took place."),
    "event.cancelled": EventType(EVENT + ("from_status",), "An event was cancelled."),
    "event.survey_sent": EventType(
        ("event_id", "registration_ids"), "The satisfaction survey was sent to an event's attendees."
    ),
    "event.registrants_anonymised": EventType(
        ("event_id", "registration_ids", "retention_months"),
        "An event's registrants were anonymised after the retention period.",
    ),
    "registration.created": EventType(REGISTRATION, "Someone registered to an event with a seat."),
    "registration.waitlisted": EventType(REGISTRATION, "Someone registered to a full event: on the waiting list."),
    "registration.promoted": EventType(REGISTRATION, "A waiting-list registration got a freed seat."),
    "registration.cancelled": EventType(REGISTRATION + ("from_status",), "A registration was cancelled."),
    "registration.matched": EventType(
        (
            "event_id",
            "registration_id",
            "status",
            "structure_id",
            "contact_id",
            "structure_department",
            "structure_sector",
            "how",
        ),
        "A registration was linked to its structure or contact (`how`: by hand, auto).",
    ),
    "registration.resend_requested": EventType(REGISTRATION, "A registrant asked for their confirmation again."),
    "attendance.recorded": EventType(
        REGISTRATION + ("from_status",), "A registrant's attendance was recorded (present or absent)."
    ),
    "survey.answered": EventType(REGISTRATION + ("useful", "score"), "An attendee answered the satisfaction survey."),
    # Mail, accounts, referential, the platform itself
    "email.resend_requested": EventType(("email_message_id", "kind"), "An admin asked to send a failed email again."),
    "user.created": EventType(USER, "A user account was created."),
    "user.updated": EventType(USER, "A user's role, departments or password changed."),
    "api_token.created": EventType(("user_id", "token_id"), "An API token was issued to a user."),
    "api_token.revoked": EventType(("user_id", "token_ids"), "A user's API tokens were revoked."),
    "reference.changed": EventType(("kind", "key"), "An entry of a reference list (sectors, offers...) changed."),
    "workflow_rule.changed": EventType(("rule", "enabled", "settings"), "An admin switched or set up a workflow rule."),
    "outbox.replayed": EventType(("event_id", "type"), "An admin replayed a dead-lettered outbox event."),
    # Yearly pack (issue 13)
    "report_note.saved": EventType(
        ("report_note_id", "year", "department", "section"),
        "A manager wrote, changed or emptied the note of one section of the yearly pack.",
    ),
    # Deployment and usage of the services (issue 14)
    "deployment.status_changed": EventType(
        (
            "deployment_id",
            "structure_id",
            "offer_id",
            "department",
            "sector",
            "category",
            "from_status",
            "to_status",
            "status_on",
            "source",
        ),
        "The deployment status of an offer in a structure changed (by hand, a rule or an import).",
    ),
    "deployment.eligibility_changed": EventType(
        ("offer_id", "structure_id", "department", "included"),
        "A structure was added to or excluded from an offer's eligible population by hand (None: back to the rule).",
    ),
    "deployment.offer_settings_changed": EventType(
        ("offer_id", "changed"), "An offer's eligibility rule, usage metric or column mapping changed."
    ),
    "usage.imported": EventType(
        ("offer_id", "source", "months", "written", "rejected", "structure_ids"),
        "Usage figures of an offer were imported (CSV or API); `structure_ids` are the structures touched.",
    ),
    # Targets (the yearly objectives note)
    "target.set": EventType(TARGET, "A target was set or changed (grid, copy, import or API)."),
    "target.deleted": EventType(TARGET, "A target was removed."),
    # Networks (issue 14): référents, grappes, national programme applications, partner links
    "referent.named": EventType(REFERENT, "A contact was named the référent of a structure for an offer."),
    "referent.ended": EventType(REFERENT, "A référent's role ended (its end date was set)."),
    "grappe.created": EventType(GRAPPE, "A grappe (ESMS applying together) was created."),
    "grappe.updated": EventType(GRAPPE + ("changed",), "A grappe's name, lead, status or members changed."),
    "application.created": EventType(APPLICATION, "An application to a national programme was recorded."),
    "application.updated": EventType(
        APPLICATION + ("from_status",), "An application's status or amounts changed (draft → submitted → funded)."
    ),
    "structure_link.created": EventType(STRUCTURE_LINK, "Two structures were linked (partner, member...)."),
    "structure_link.deleted": EventType(STRUCTURE_LINK, "A link between two structures was removed."),
}


def require_known(event_type: str) -> None:
    """Refuse an outbox write whose type is not in :data:`EVENT_TYPES`."""
    if event_type not in EVENT_TYPES:
        raise UnknownEventType(
            f"Unknown domain event type {event_type!r}: declare it in crm/platform/event_types.py (EVENT_TYPES) "
            "with its payload's fields and meaning before writing it."
        )


def declare(name: str, fields: tuple[str, ...], meaning: str) -> None:
    """Add a type at start-up (the tests' own event types); the domains' types are listed above."""
    EVENT_TYPES.setdefault(name, EventType(tuple(fields), meaning))
