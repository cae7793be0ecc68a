"""The indicators' read model follows every batch: a consumer, not a rule (no trigger, no condition: any
event may change a figure, and which facts it touches is the read model's business).

Action: re-derive the facts and cells of the records the batch's events touched, in the batch's transaction
(:func:`crm.indicators.readmodel.upkeep.apply_events`). Before the first batch ever (a fresh database), and
at each sweep, the read model is built whole if it never was (:func:`crm.indicators.readmodel.rebuild.ensure_built`).
"""

from __future__ import annotations

from crm.indicators.readmodel import rebuild, upkeep
from workflows.registry import Consumer, DomainEvent


def apply(events: list[DomainEvent]) -> None:
    # Looked up on the module at each call rather than bound here, so that a test can substitute it.
    upkeep.apply_events(events)


def prepare() -> None:
    rebuild.ensure_built()


CONSUMER = Consumer(
    name="indicators_read_model",
    description="Indicateurs : faits et cellules recalculés pour les fiches que les événements ont touchées.",
    apply=apply,
    prepare=prepare,
)
