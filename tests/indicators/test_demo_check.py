"""`crm indicators check` passes on the demo data, and still after work is logged on top of it."""

from __future__ import annotations

import os
import subprocess
import sys

from crm.platform.extensions import db
from tests.conftest import ROOT


def _cli(test_env, *args):
    env = {**os.environ, **test_env, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "crm", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_check_passes_on_the_demo_data_and_after_more_work(test_env, app):
    from sqlalchemy import select

    from crm.accounts.models import User
    from crm.activities.services import log_activity
    from crm.seed import run_seed
    from crm.structures.models import Structure
    from workflows.dispatch import process_pending

    run_seed("demo", echo=lambda *_: None)
    result = _cli(test_env, "indicators", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Indicateurs conformes à un recalcul complet." in result.stdout

    animator = db.session.scalars(select(User).where(User.role == "animateur")).first()
    structures = db.session.scalars(
        select(Structure).where(Structure.department_code.in_(animator.department_codes)).limit(3)
    ).all()
    log_activity(
        {"kind": "reunion", "structure_ids": [s.id for s in structures], "is_information": True}, user=animator
    )
    result = _cli(test_env, "indicators", "check")
    assert result.returncode == 1 and "ind_participation" in result.stderr  # not processed yet: a difference
    process_pending()
    result = _cli(test_env, "indicators", "check")
    assert result.returncode == 0, result.stdout + result.stderr
