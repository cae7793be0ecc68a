"""Import every model module so that the metadata (and Alembic) sees all tables."""

from crm.accounts.models import ApiToken, LoginFailure, RememberToken, User, user_departments  # noqa: F401
from crm.activities.models import Activity  # noqa: F401,E402
from crm.deployment.models import (  # noqa: F401,E402
    DeploymentStatus,
    EligibilityOverride,
    OfferDeploymentSettings,
    StructureDeployment,
    UsageFigure,
    UsageImportRun,
)
from crm.events.followup.survey_models import SurveyInvitation, SurveyResponse  # noqa: F401,E402
from crm.events.models import (  # noqa: F401,E402
    Event,
    EventSeries,
    EventType,
    Registration,
    event_offers,
    event_programmes,
)
from crm.indicators.readmodel.deployment import DeploymentCell  # noqa: F401,E402
from crm.indicators.readmodel.models import (  # noqa: F401,E402
    Engagement,
    EventFact,
    IndicatorState,
    OfferPresentation,
    OfferPresentationCell,
    OpportunityCell,
    OpportunityFact,
    ParticipationDay,
    ParticipationSource,
    ProjectFact,
    StructureFact,
)
from crm.indicators.readmodel.usage import UsageCell  # noqa: F401,E402
from crm.indicators.yearly.models import ReportNote  # noqa: F401,E402
from crm.mail.models import EmailMessage  # noqa: F401,E402
from crm.networks.models import (  # noqa: F401,E402
    Grappe,
    ProgrammeApplication,
    Referent,
    StructureLink,
    StructureLinkType,
    grappe_members,
)
from crm.pipeline.models import LossReason, Milestone, Opportunity, Project, StageChange  # noqa: F401,E402
from crm.platform.models import AuditEntry, OutboxEvent  # noqa: F401
from crm.referential.models import (  # noqa: F401
    Category,
    Department,
    FinessCategoryMapping,
    Offer,
    Programme,
    Region,
    Sector,
)
from crm.structures.models import Contact, ImportRun, Structure  # noqa: F401
from crm.targets.models import Target  # noqa: F401,E402
from crm.tasks.models import Task  # noqa: F401,E402
from workflows.models import RuleRun, WorkflowRuleState  # noqa: F401,E402
