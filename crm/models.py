"""Import every model module so that the metadata (and Alembic) sees all tables."""
from crm.accounts.models import ApiToken, LoginFailure, User, user_departments  # noqa: F401
from crm.core.models import AuditEntry, OutboxEvent  # noqa: F401
from crm.referential.models import (  # noqa: F401
    Category, Department, FinessCategoryMapping, Offer, Programme, Region, Sector,
)
from crm.structures.models import Contact, ImportRun, Structure  # noqa: F401
from crm.activities.models import Activity  # noqa: F401,E402
from crm.pipeline.models import LossReason, Milestone, Opportunity, Project, StageChange  # noqa: F401,E402
from crm.tasks.models import Task  # noqa: F401,E402
