"""What an admin sees and changes of the workflow rules: their state, settings and last runs."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.locking import for_update
from crm.platform.validation import ValidationFailed, parse_int
from workflows.dispatch import rule_states, settings_for
from workflows.models import RuleRun, WorkflowRuleState
from workflows.registry import Rule, ScheduledRule, all_rules

RECENT_RUNS = 20


@dataclass
class RuleView:
    """A rule as the admin page shows it: its definition, its state row and its effective settings."""

    rule: Rule | ScheduledRule
    state: WorkflowRuleState
    settings: dict

    @property
    def is_scheduled(self) -> bool:
        return isinstance(self.rule, ScheduledRule)

    @property
    def triggers(self) -> list[str]:
        if self.is_scheduled:
            minutes = int(self.rule.every.total_seconds() // 60)
            every = f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
            return [f"Planifiée (vérifiée toutes les {every})"]
        return list(self.rule.triggers)


def find_rule(name: str) -> Rule | ScheduledRule | None:
    return next((rule for rule in all_rules() if rule.name == name), None)


def rule_views() -> list[RuleView]:
    """Every rule, in the order of ``RULES``, with its state (created on first sight)."""
    states = rule_states()
    db.session.commit()
    return [RuleView(rule, states[rule.name], settings_for(rule, states[rule.name])) for rule in all_rules()]


def rule_view(rule: Rule | ScheduledRule) -> RuleView:
    return next(view for view in rule_views() if view.rule.name == rule.name)


def recent_runs(rule: Rule | ScheduledRule, limit: int = RECENT_RUNS) -> list[RuleRun]:
    return list(
        db.session.scalars(
            select(RuleRun).where(RuleRun.rule == rule.name).order_by(RuleRun.at.desc(), RuleRun.id.desc()).limit(limit)
        )
    )


def _locked_state(rule: Rule | ScheduledRule) -> WorkflowRuleState:
    rule_states()
    return db.session.scalars(for_update(select(WorkflowRuleState).where(WorkflowRuleState.name == rule.name))).one()


def _record(rule: Rule | ScheduledRule, state: WorkflowRuleState, changes: dict, user_id: int | None) -> None:
    record_change(
        entity_type=f"rule_{rule.name}"[:40],
        entity_id=0,
        action="update",
        changes=changes,
        event_type="workflow_rule.changed",
        payload={"rule": rule.name, "enabled": state.enabled, "settings": dict(state.settings or {})},
        user_id=user_id,
    )


def set_enabled(rule: Rule | ScheduledRule, enabled: bool, *, user_id: int | None) -> bool:
    """Switch a rule on or off; True if it changed. A rule switched off lets its events pass untouched
    (they are not run later when it is switched on again)."""
    state = _locked_state(rule)
    if state.enabled == enabled:
        db.session.commit()
        return False
    changes = {"enabled": [state.enabled, enabled]}
    state.enabled = enabled
    _record(rule, state, changes, user_id)
    db.session.commit()
    return True


def update_settings(rule: Rule | ScheduledRule, data: dict, *, user_id: int | None) -> bool:
    """Change a rule's settings: whole numbers within each setting's bounds, every error at once, in
    French (ValidationFailed). True if something changed."""
    errors: dict[str, str] = {}
    values = {}
    for setting in rule.settings:
        values[setting.name] = parse_int(
            data.get(setting.name),
            errors,
            setting.name,
            minimum=setting.minimum,
            maximum=setting.maximum,
            required=True,
            message=f"Nombre entier attendu (entre {setting.minimum} et {setting.maximum}).",
        )
    if errors:
        raise ValidationFailed(errors)
    state = _locked_state(rule)
    before = settings_for(rule, state)
    changes = {name: [before.get(name), value] for name, value in values.items() if before.get(name) != value}
    if not changes:
        db.session.commit()
        return False
    state.settings = {**(state.settings or {}), **values}
    _record(rule, state, changes, user_id)
    db.session.commit()
    return True
