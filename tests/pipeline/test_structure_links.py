"""The pipeline follows the structures it builds on through the platform's signals, not upward imports."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.pipeline import structure_links
from crm.pipeline.models import Opportunity
from crm.platform import signals
from crm.platform.extensions import db
from crm.structures.imports import closing_sample
from crm.structures.services import update_structure


@pytest.fixture
def animator(make_user):
    return make_user("animateur", ["31", "11"])


def test_the_pipeline_moves_with_its_structure_before_the_commit(animator, make_structure, make_opportunity):
    structure = make_structure(name="EHPAD du Razès", department_code="31")
    opportunity = make_opportunity(structure, animator)
    update_structure(structure, {"name": structure.name, "department_code": "11", "is_open": True})
    # Same transaction: whoever reads before the commit (a page, the indicators' upkeep) sees them together.
    assert db.session.scalar(select(Opportunity.department_code).where(Opportunity.id == opportunity.id)) == "11"


def test_the_receivers_are_connected_once_however_many_apps(app):
    structure_links.connect()
    assert list(signals.structure_department_changed.receivers_for(None)).count(structure_links.follow_department) <= 1
    assert len(signals.structures_live_work.receivers) == 1


def test_a_closing_sample_counts_the_live_pipeline(animator, make_structure, make_opportunity):
    busy, idle = make_structure(name="CH Busy"), make_structure(name="CH Idle")
    make_opportunity(busy, animator)
    make_opportunity(busy, animator, stage="gagnee")
    closing = [
        {"id": s.id, "finess_et": None, "name": s.name, "department_code": s.department_code} for s in (idle, busy)
    ]
    sample = closing_sample(closing)
    assert sample["flagged"] == 1
    assert sample["structures"][0]["id"] == busy.id
    assert (sample["structures"][0]["opportunities"], sample["structures"][0]["projects"]) == (1, 1)
