"""Reference data, read-only: the ids a client needs to write (programmes, offers, sectors, departments,
event types, loss reasons) without access to the database. Small lists: no pagination."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from crm.api.registry import operation
from crm.api.routes import bp
from crm.events.models import EventType
from crm.pipeline.models import LossReason
from crm.platform.extensions import db
from crm.referential.models import Department, Offer, Programme, Sector

TAG = "Référentiel"


def _listing(statement, serialise):
    return jsonify({"data": [serialise(row) for row in db.session.scalars(statement)]})


@operation(
    bp,
    "/reference/programmes",
    "GET",
    summary="Programmes du CPOM",
    tag=TAG,
    ok=(200, "ProgrammeList"),
    description="Dans l'ordre du CPOM ; target_sectors : les secteurs de la population cible de "
    "l'indicateur d'engagement.",
)
def reference_programmes():
    return _listing(
        select(Programme).order_by(Programme.number),
        lambda p: {
            "id": p.id,
            "number": p.number,
            "code": p.code,
            "label": p.label,
            "target_sectors": [code for code in p.target_sectors.split(",") if code],
            "active": p.active,
        },
    )


@operation(
    bp,
    "/reference/offers",
    "GET",
    summary="Offres",
    tag=TAG,
    ok=(200, "OfferList"),
    description="Chaque offre relève d'un programme (programme_id).",
)
def reference_offers():
    return _listing(
        select(Offer).order_by(Offer.programme_id, Offer.label, Offer.id),
        lambda o: {"id": o.id, "code": o.code, "label": o.label, "programme_id": o.programme_id, "active": o.active},
    )


@operation(
    bp,
    "/reference/sectors",
    "GET",
    summary="Secteurs",
    tag=TAG,
    ok=(200, "SectorList"),
    description="is_es_esms : compté parmi les « ES et ESMS » des indicateurs.",
)
def reference_sectors():
    return _listing(
        select(Sector).order_by(Sector.position, Sector.id),
        lambda s: {"id": s.id, "code": s.code, "label": s.label, "is_es_esms": s.is_es_esms},
    )


@operation(
    bp,
    "/reference/departments",
    "GET",
    summary="Départements",
    tag=TAG,
    ok=(200, "DepartmentList"),
    description="Code INSEE (31, 2A, 974), nom, région.",
)
def reference_departments():
    return _listing(
        select(Department).order_by(Department.code),
        lambda d: {"code": d.code, "name": d.name, "region_code": d.region_code, "region_name": d.region.name},
    )


@operation(bp, "/reference/event-types", "GET", summary="Types d'événements", tag=TAG, ok=(200, "EventTypeList"))
def reference_event_types():
    return _listing(
        select(EventType).order_by(EventType.position, EventType.id),
        lambda t: {"id": t.id, "code": t.code, "label": t.label, "active": t.active},
    )


@operation(
    bp,
    "/reference/loss-reasons",
    "GET",
    summary="Raisons de perte ou d'abandon",
    tag=TAG,
    ok=(200, "LossReasonList"),
    description="Le reason_id d'une opportunité perdue ou abandonnée.",
)
def reference_loss_reasons():
    return _listing(
        select(LossReason).order_by(LossReason.label, LossReason.id),
        lambda r: {"id": r.id, "label": r.label, "active": r.active},
    )
