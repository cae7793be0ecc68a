"""The workflow rules, one small module each, the consumers that follow every batch and the sweep's
catch-ups. Order matters only for display (rules) and for the order consumers and catch-ups run in."""

from workflows.registry import CatchUp, Consumer, Rule, ScheduledRule
from workflows.rules import (
    activity_next_step_task,
    deployment_status,
    event_followup_tasks,
    event_reminder,
    event_survey,
    idle_opportunity_task,
    indicators_read_model,
    pending_emails,
    registration_emails,
    won_opportunity_project,
)

RULES: list[Rule | ScheduledRule] = [
    registration_emails.RULE,
    event_reminder.RULE,
    event_survey.RULE,
    event_followup_tasks.RULE,
    won_opportunity_project.RULE,
    idle_opportunity_task.RULE,
    activity_next_step_task.RULE,
    deployment_status.PROJECT_RULE,
    deployment_status.WON_RULE,
]

CONSUMERS: list[Consumer] = [
    indicators_read_model.CONSUMER,
]

CATCH_UPS: list[CatchUp] = [
    pending_emails.CATCH_UP,
]
