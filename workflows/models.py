"""The state of the workflow rules: switched on or off by an admin, and what each run did."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.platform.extensions import db
from crm.platform.models import BigId, utcnow


class WorkflowRuleState(db.Model):
    """One row per rule (created on first use): enabled flag, settings an admin can change, counters."""

    __tablename__ = "workflow_rules"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(2000))


class RuleRun(db.Model):
    """What a rule did once. ``run_key`` (unique) is what makes an action happen once: the event's id for
    an event rule, the person or record for a scheduled rule ("reminder of registration 12")."""

    __tablename__ = "workflow_rule_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rule: Mapped[str] = mapped_column(String(80))
    run_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    outcome: Mapped[str] = mapped_column(String(20))  # "ok" or "echec"
    detail: Mapped[str | None] = mapped_column(String(2000))

    __table_args__ = (Index("ix_workflow_rule_runs_rule_at", "rule", "at"),)
