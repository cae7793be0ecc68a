"""JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of every API body, defined once.

They build the OpenAPI document's ``components.schemas``; request schemas also
drive the type check of incoming bodies (``registry.check_shape``), and the tests
validate every real response against the response schemas.
"""

from __future__ import annotations

from crm.activities.models import KINDS
from crm.pipeline.models import PROJECT_STATUSES, SOURCES, STAGES
from crm.structures.contacts import CIVILITIES

MAX_ID = 2**31 - 1


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def obj(properties: dict, required: list[str] | None = None, *, description: str = "", strict: bool = True) -> dict:
    schema = {"type": "object", "properties": properties, "additionalProperties": not strict}
    if required is not None:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
IDS = {"type": "array", "items": ID, "maxItems": 100}
DATE = {"type": "string", "format": "date", "description": "AAAA-MM-JJ"}
DATETIME = {"type": "string", "format": "date-time", "description": "ISO 8601 avec décalage horaire"}
TEXT = {"type": "string"}
BOOL = {"type": "boolean"}
URL = {"type": "string", "description": "Chemin de la ressource dans l'API"}


def _out(properties: dict, description: str = "") -> dict:
    """A response object: every property is always present."""
    return obj(properties, sorted(properties), description=description)


def _page(item: str) -> dict:
    return _out(
        {"data": {"type": "array", "items": ref(item)}, "meta": ref("PageMeta"), "links": ref("PageLinks")},
        f"Une page de {item}.",
    )


STRUCTURE_INPUT = {
    "name": {**TEXT, "maxLength": 255},
    "long_name": nullable(TEXT),
    "finess_et": nullable(TEXT),
    "finess_ej": nullable(TEXT),
    "siret": nullable(TEXT),
    "sector_id": nullable(ID),
    "category_id": nullable(ID),
    "address": nullable(TEXT),
    "postal_code": nullable(TEXT),
    "commune": nullable(TEXT),
    "department_code": {**TEXT, "description": "Code INSEE du département (31, 2A, 974)"},
    "phone": nullable(TEXT),
    "email": nullable(TEXT),
    "website": nullable(TEXT),
    "is_open": BOOL,
    "closed_on": nullable(
        {
            **DATE,
            "description": "Jour de la fermeture d'une structure fermée (aujourd'hui par "
            "défaut en la fermant) : ni futur, ni avant son ouverture",
        }
    ),
    "notes": nullable(TEXT),
}
CONTACT_INPUT = {
    "civility": nullable({**TEXT, "enum": [c for c in CIVILITIES if c]}),
    "first_name": nullable(TEXT),
    "last_name": nullable(TEXT),
    "function": nullable(TEXT),
    "email": nullable(TEXT),
    "phone": nullable(TEXT),
    "consent": {**BOOL, "description": "Consentement RGPD à être contacté"},
    "source": nullable(TEXT),
}
ACTIVITY_INPUT = {
    "kind": {**TEXT, "enum": list(KINDS)},
    "occurred_on": nullable({**DATE, "description": "Aujourd'hui par défaut"}),
    "duration_minutes": nullable({"type": "integer", "minimum": 0, "maximum": 1440}),
    "structure_ids": IDS,
    "contact_ids": IDS,
    "offer_ids": IDS,
    "programme_ids": IDS,
    "subject": nullable(TEXT),
    "notes": nullable(TEXT),
    "is_information": BOOL,
    "next_step": nullable({**TEXT, "description": "Crée une relance pour l'auteur"}),
    "next_step_due_on": nullable(DATE),
}
OPPORTUNITY_INPUT = {
    "structure_id": ID,
    "offer_id": ID,
    "title": TEXT,
    "need": nullable(TEXT),
    "source": {**TEXT, "enum": list(SOURCES)},
    "owner_id": nullable(ID),
    "expected_on": nullable(DATE),
    "source_activity_id": nullable(ID),
    "identified_on": nullable(
        {
            **DATE,
            "description": "Jour où le besoin a été identifié : aujourd'hui par "
            "défaut, ou plus tôt, jamais dans le futur ; il place "
            "l'opportunité dans la cohorte du taux de transformation",
        }
    ),
    "source_event_id": nullable(
        {**ID, "description": "L'événement d'où vient le besoin (avec source = evenement, un événement qui a eu lieu)"}
    ),
}
OPPORTUNITY_PATCH = {
    "title": TEXT,
    "need": nullable(TEXT),
    "owner_id": ID,
    "expected_on": nullable(DATE),
    "stage": {**TEXT, "enum": list(STAGES), "description": "Transition validée par les règles d'étapes"},
    "reason_id": nullable({**ID, "description": "Raison, obligatoire pour perdue et abandonnée"}),
    "comment": nullable(TEXT),
    "version": {**ID, "description": "Verrouillage optimiste : 409 si l'opportunité a changé depuis"},
}
PROJECT_INPUT = {
    "structure_id": ID,
    "offer_id": ID,
    "title": TEXT,
    "started_on": nullable({**DATE, "description": "Aujourd'hui par défaut"}),
    "notes": nullable(TEXT),
    "owner_id": nullable({**ID, "description": "Par défaut l'animateur du département de la structure"}),
}
PROJECT_PATCH = {
    "title": TEXT,
    "notes": nullable(TEXT),
    "started_on": DATE,
    "ended_on": nullable(DATE),
    "status": {**TEXT, "enum": list(PROJECT_STATUSES), "description": "en_cours, suspendu ou termine"},
    "version": {**ID, "description": "Verrouillage optimiste : 409 si le projet a changé depuis"},
}
TASK_INPUT = {
    "title": TEXT,
    "description": nullable(TEXT),
    "due_on": nullable(DATE),
    "owner_id": nullable({**ID, "description": "L'utilisateur du jeton par défaut"}),
    "structure_id": nullable(ID),
    "opportunity_id": nullable(ID),
    "project_id": nullable(ID),
}
TASK_PATCH = {
    "title": TEXT,
    "description": nullable(TEXT),
    "due_on": nullable(DATE),
    "owner_id": ID,
    "done": {**BOOL, "description": "true : faite ; false : à refaire"},
}

STRUCTURE_REF = _out({"id": ID, "name": TEXT, "department_code": TEXT})

COMPONENTS: dict[str, dict] = {
    "Error": _out(
        {
            "error": obj(
                {
                    "status": {"type": "integer"},
                    "message": TEXT,
                    "fields": {
                        "type": "object",
                        "additionalProperties": TEXT,
                        "description": "Un message en français par champ (ou paramètre) refusé",
                    },
                    "existing": _out(
                        {"id": ID, "url": URL},
                        "La structure qui porte déjà ce numéro FINESS, ou l'activité "
                        "déjà déclarée dont celle-ci serait le doublon",
                    ),
                },
                ["status", "message"],
            )
        }
    ),
    "PageMeta": _out(
        {
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1},
            "total": {"type": "integer", "minimum": 0},
            "pages": {"type": "integer", "minimum": 1},
            "total_capped": {
                **BOOL,
                "description": "Vrai quand le total est un minimum : le compte s'arrête à 10 000 (« plus de "
                "10 000 »), suivez links.next",
            },
        }
    ),
    "PageLinks": _out({"next": nullable(URL), "prev": nullable(URL)}),
    "Me": _out({"id": ID, "email": TEXT, "role": TEXT, "departments": {"type": "array", "items": TEXT}}),
    "StructureRef": STRUCTURE_REF,
    "Structure": _out(
        {
            "id": ID,
            "url": URL,
            **{k: v for k, v in STRUCTURE_INPUT.items() if k != "name"},
            "name": TEXT,
            "department_code": TEXT,
            "source": {**TEXT, "enum": ["finess", "manuel"]},
            "opened_on": nullable({**DATE, "description": "Date d'ouverture (dateouv du fichier FINESS)"}),
            "closed_on": nullable(DATE),
            "version": {"type": "integer"},
            "created_at": DATETIME,
            "updated_at": DATETIME,
        }
    ),
    "StructureInput": obj(STRUCTURE_INPUT, ["name", "department_code"]),
    "StructurePatch": obj(
        {
            **STRUCTURE_INPUT,
            "version": {**ID, "description": "Verrouillage optimiste : 409 si la fiche a changé depuis"},
        },
        description="Modification partielle : les champs absents gardent leur valeur.",
    ),
    "Contact": _out(
        {
            "id": ID,
            "url": URL,
            "structure_id": ID,
            **CONTACT_INPUT,
            "consent_at": nullable(DATETIME),
            "erased": {**BOOL, "description": "Effacé à sa demande (RGPD) : les données personnelles sont nulles"},
            "erased_at": nullable(DATETIME),
            "created_at": DATETIME,
            "updated_at": DATETIME,
        }
    ),
    "ContactInput": obj(CONTACT_INPUT, description="Au moins le nom ou l'adresse e-mail."),
    "ContactPatch": obj(CONTACT_INPUT, description="Modification partielle."),
    "Activity": _out(
        {
            "id": ID,
            "url": URL,
            "kind": {**TEXT, "enum": list(KINDS)},
            "occurred_on": DATE,
            "duration_minutes": nullable({"type": "integer"}),
            "author_id": nullable(ID),
            "subject": nullable(TEXT),
            "notes": nullable(TEXT),
            "is_information": BOOL,
            "next_step": nullable(TEXT),
            "next_step_due_on": nullable(DATE),
            "structures": {"type": "array", "items": ref("StructureRef")},
            "contact_ids": IDS,
            "offer_ids": IDS,
            "programme_ids": IDS,
            "created_at": DATETIME,
        }
    ),
    "ActivityInput": obj(
        {
            **ACTIVITY_INPUT,
            "confirm_duplicate": {
                **BOOL,
                "description": "true : déclarer même si une activité identique vient de l'être (sinon 409)",
            },
        },
        ["kind", "structure_ids"],
    ),
    "ActivityPatch": obj(
        ACTIVITY_INPUT,
        description="Modification partielle : les champs absents gardent leur "
        "valeur ; une liste remplace la précédente.",
    ),
    "Deleted": _out({"id": ID, "deleted": {"type": "boolean", "const": True}}, "L'élément supprimé."),
    "StageChange": _out(
        {
            "from_stage": nullable({**TEXT, "enum": list(STAGES)}),
            "to_stage": {**TEXT, "enum": list(STAGES)},
            "changed_at": DATETIME,
            "changed_by_id": nullable(ID),
            "reason_id": nullable(ID),
            "comment": nullable(TEXT),
        }
    ),
    "Opportunity": _out(
        {
            "id": ID,
            "url": URL,
            "structure": ref("StructureRef"),
            "offer_id": ID,
            "programme_id": ID,
            "title": TEXT,
            "need": nullable(TEXT),
            "source": {**TEXT, "enum": list(SOURCES)},
            "source_activity_id": nullable(ID),
            "source_event_id": nullable(ID),
            "owner_id": nullable(ID),
            "expected_on": nullable(DATE),
            "stage": {**TEXT, "enum": list(STAGES)},
            "identified_on": DATE,
            "stage_changed_at": DATETIME,
            "closed_on": nullable(DATE),
            "loss_reason_id": nullable(ID),
            "project_id": nullable(ID),
            "version": {"type": "integer"},
            "created_at": DATETIME,
            "updated_at": DATETIME,
        }
    ),
    "OpportunityInput": obj(OPPORTUNITY_INPUT, ["structure_id", "offer_id", "title"]),
    "OpportunityPatch": obj(
        OPPORTUNITY_PATCH,
        description=(
            "Champs modifiés par update_opportunity ; « stage » est une transition (identifiee -> qualifiee -> "
            "proposee -> gagnee, ou perdue / abandonnee avec reason_id). Gagner fait créer le projet par une "
            "règle automatique, quelques secondes après (project_id, null d'ici là)."
        ),
    ),
    "Milestone": _out({"id": ID, "label": TEXT, "due_on": nullable(DATE), "done_on": nullable(DATE)}),
    "Project": _out(
        {
            "id": ID,
            "url": URL,
            "structure": ref("StructureRef"),
            "offer_id": ID,
            "programme_id": ID,
            "opportunity_id": nullable(ID),
            "title": TEXT,
            "status": {**TEXT, "enum": list(PROJECT_STATUSES)},
            "started_on": DATE,
            "ended_on": nullable(DATE),
            "owner_id": nullable(ID),
            "notes": nullable(TEXT),
            "version": {"type": "integer"},
            "created_at": DATETIME,
            "updated_at": DATETIME,
        }
    ),
    "ProjectInput": obj(PROJECT_INPUT, ["structure_id", "offer_id", "title"]),
    "ProjectPatch": obj(
        PROJECT_PATCH, description="Modification partielle ; un changement de statut est enregistré dans l'historique."
    ),
    "MilestoneInput": obj({"label": TEXT, "due_on": nullable(DATE)}, ["label"]),
    "MilestonePatch": obj({"done": {**BOOL, "description": "true : atteint aujourd'hui ; false : à faire"}}, ["done"]),
    "Task": _out(
        {
            "id": ID,
            "url": URL,
            "title": TEXT,
            "description": nullable(TEXT),
            "due_on": nullable(DATE),
            "owner_id": ID,
            "structure_id": nullable(ID),
            "opportunity_id": nullable(ID),
            "project_id": nullable(ID),
            "activity_id": nullable(ID),
            "source": {**TEXT, "enum": ["manuel", "activite", "workflow"]},
            "created_by_id": nullable(ID),
            "created_at": DATETIME,
            "done": BOOL,
            "done_at": nullable(DATETIME),
            "done_by_id": nullable(ID),
        }
    ),
    "TaskInput": obj(TASK_INPUT, ["title"]),
    "TaskPatch": obj(TASK_PATCH, description="Modification partielle ; done marque la relance faite ou à refaire."),
}


def _extend(name: str, extra: dict) -> dict:
    base = COMPONENTS[name]
    return _out({**base["properties"], **extra}, base.get("description", ""))


COMPONENTS["OpportunityDetail"] = _extend(
    "Opportunity", {"stage_history": {"type": "array", "items": ref("StageChange")}}
)
COMPONENTS["ProjectDetail"] = _extend("Project", {"milestones": {"type": "array", "items": ref("Milestone")}})
for _name in ("Structure", "Contact", "Activity", "Opportunity", "Project", "Task"):
    COMPONENTS[f"{_name}Page"] = _page(_name)


# --- events and registrations -----------------------------------------------------------------------

from crm.events.models import EVENT_STATUSES, REGISTRATION_SOURCES, REGISTRATION_STATUSES  # noqa: E402

LOCAL_DATETIME = {"type": "string", "description": "ISO 8601 ; sans décalage horaire, heure de Paris"}
EVENT_INPUT = {
    "type_id": {**ID, "description": "Type d'événement (référentiel)"},
    "title": TEXT,
    "description": nullable(TEXT),
    "starts_at": LOCAL_DATETIME,
    "ends_at": LOCAL_DATETIME,
    "place_name": nullable(TEXT),
    "address": nullable(TEXT),
    "department_code": nullable(TEXT),
    "online_url": nullable({**TEXT, "description": "Lien https:// d'un événement en ligne"}),
    "capacity": nullable({"type": "integer", "minimum": 1, "maximum": 100000, "description": "null : illimitée"}),
    "programme_ids": IDS,
    "offer_ids": IDS,
    "organiser_id": nullable(ID),
    "series_id": nullable(ID),
    "registration_opens_at": nullable(LOCAL_DATETIME),
    "registration_closes_at": nullable(LOCAL_DATETIME),
}
REGISTRATION_INPUT = {
    "first_name": TEXT,
    "last_name": TEXT,
    "email": TEXT,
    "function": nullable(TEXT),
    "structure_id": nullable({**ID, "description": "Une structure connue, ou structure_name et department_code"}),
    "structure_name": nullable(TEXT),
    "department_code": nullable(TEXT),
    "consent_contact": BOOL,
}
COUNTS = {status: {"type": "integer", "minimum": 0} for status in (*REGISTRATION_STATUSES, "places_prises")}

COMPONENTS.update(
    {
        "RegistrationCounts": _out(COUNTS, "Inscriptions par statut ; places_prises = inscrit + present."),
        "Event": _out(
            {
                "id": ID,
                "url": URL,
                "type_id": ID,
                "type_code": TEXT,
                "series_id": nullable(ID),
                "title": TEXT,
                "description": nullable(TEXT),
                "starts_at": DATETIME,
                "ends_at": DATETIME,
                "place_name": nullable(TEXT),
                "address": nullable(TEXT),
                "department_code": nullable(TEXT),
                "online_url": nullable(TEXT),
                "capacity": nullable({"type": "integer"}),
                "programme_ids": IDS,
                "offer_ids": IDS,
                "organiser_id": nullable(ID),
                "registration_opens_at": nullable(DATETIME),
                "registration_closes_at": nullable(DATETIME),
                "status": {**TEXT, "enum": list(EVENT_STATUSES)},
                "uid": {**TEXT, "description": "UID iCalendar stable"},
                "sequence": {"type": "integer", "description": "SEQUENCE iCalendar, augmentée à chaque changement"},
                "public_url": {**TEXT, "description": "Page publique d'inscription"},
                "ics_url": URL,
                "counts": ref("RegistrationCounts"),
                "version": {"type": "integer"},
                "created_at": DATETIME,
                "updated_at": DATETIME,
            }
        ),
        "EventInput": obj(
            EVENT_INPUT,
            ["type_id", "title", "starts_at", "ends_at"],
            description="Un lieu (place_name et department_code) ou un lien (online_url). Créé en brouillon.",
        ),
        "EventPatch": obj(
            {
                **EVENT_INPUT,
                "status": {
                    **TEXT,
                    "enum": list(EVENT_STATUSES),
                    "description": "Transition : brouillon -> publie -> clos, ou annule (les inscrits sont prévenus)",
                },
                "version": {**ID, "description": "Verrouillage optimiste : 409 si l'événement a changé depuis"},
            },
            description="Modification partielle, puis le changement de statut, en une transaction.",
        ),
        "Registration": _out(
            {
                "id": ID,
                "event_id": ID,
                "first_name": TEXT,
                "last_name": TEXT,
                "email": TEXT,
                "function": nullable(TEXT),
                "structure_id": nullable(ID),
                "structure_name": nullable(TEXT),
                "department_code": nullable(TEXT),
                "contact_id": nullable(ID),
                "consent_contact": BOOL,
                "status": {**TEXT, "enum": list(REGISTRATION_STATUSES)},
                "source": {**TEXT, "enum": list(REGISTRATION_SOURCES)},
                "registered_at": DATETIME,
                "cancelled_at": nullable(DATETIME),
                "promoted_at": nullable(DATETIME),
                "attended_at": nullable(DATETIME),
                "version": {"type": "integer"},
            }
        ),
        "RegistrationInput": obj(REGISTRATION_INPUT, ["first_name", "last_name", "email"]),
        "RegistrationPatch": obj(
            {
                "status": {
                    **TEXT,
                    "enum": ["annule", "present", "absent", "excuse"],
                    "description": "annule libère la place (promotion de la liste "
                    "d'attente) ; present, absent, excuse notent la présence",
                }
            },
            ["status"],
        ),
    }
)
COMPONENTS["RegistrationCreated"] = _extend(
    "Registration",
    {
        "outcome": {
            **TEXT,
            "enum": ["inscrit", "attente", "existant"],
            "description": "existant : cette adresse était déjà inscrite (rien n'a changé)",
        }
    },
)
COMPONENTS["EventPage"] = _page("Event")
COMPONENTS["RegistrationPage"] = _page("Registration")


# --- indicators ------------------------------------------------------------------------------------

COUNT = {"type": "integer", "minimum": 0}
RATE = {
    "type": ["number", "null"],
    "minimum": 0,
    "description": "numerator / denominator ; null quand le dénominateur est 0 (pas de données)",
}
INDICATOR_KEY = obj(
    {
        "department": nullable({**TEXT, "description": "Code du département"}),
        "programme": nullable({**ID, "description": "null : sans programme"}),
        "offer": nullable({**ID, "description": "null : sans offre"}),
        "animator": nullable({**ID, "description": "Identifiant de l'utilisateur ; null : sans animateur"}),
        "sector": nullable({**TEXT, "description": "Code du secteur ; null : non renseigné"}),
        "month": {**TEXT, "pattern": r"^\d{4}-\d{2}$", "description": "AAAA-MM"},
    },
    description="Les dimensions de la ligne, nommées ; {} pour l'ensemble.",
)
RATIO = _out({"label": TEXT, "numerator": COUNT, "denominator": COUNT, "rate": RATE})
# Targets (crm/targets): rates in % (37.5 for 37,5 %), counts in units; see docs/indicators.md.
TARGET_VALUE = {
    "type": ["number", "null"],
    "description": "La cible de l'année pour cette ligne (taux en %, nombres en unités) ; null sans cible",
}
TARGET_GAP = {
    "type": ["number", "null"],
    "description": "Écart à la cible : taux × 100 − cible (points) ; pour un nombre, valeur − cible au prorata "
    "des jours écoulés (unités) ; null sans cible ou sans valeur",
}
TARGET_STATUS = {
    "type": ["string", "null"],
    "enum": ["reached", "on_track", "behind", None],
    "description": "reached : atteinte ; on_track : en bonne voie ; behind : en retard ; null sans cible",
}

COMPONENTS.update(
    {
        "IndicatorPeriod": _out({"start": DATE, "end": DATE}, "Bornes incluses."),
        "IndicatorFilters": _out(
            {
                "department": nullable(TEXT),
                "programme": nullable(ID),
                "offer": nullable(ID),
                "animator": nullable(ID),
                "sector": nullable(TEXT),
                "departments": {
                    "type": "array",
                    "items": TEXT,
                    "description": "Les départements couverts (ceux de la région sans filtre)",
                },
            },
            "Les filtres appliqués.",
        ),
        "Freshness": _out(
            {
                "oldest_pending_at": nullable(
                    {**DATETIME, "description": "Le plus ancien événement pas encore compté"}
                ),
                "age_seconds": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Retard possible des chiffres (0 : tout est compté)",
                },
                "pending_events": COUNT,
            },
            "Fraîcheur des chiffres.",
        ),
        "IndicatorRow": _out(
            {
                "key": INDICATOR_KEY,
                "label": TEXT,
                "numerator": COUNT,
                "denominator": COUNT,
                "rate": RATE,
                "target": TARGET_VALUE,
                "gap": TARGET_GAP,
                "target_status": TARGET_STATUS,
            }
        ),
        "Ratio": RATIO,
    }
)
COMPONENTS["IndicatorResult"] = _out(
    {
        "indicator": {**TEXT, "enum": ["transformation-rate", "information-participation", "engagement"]},
        "period": ref("IndicatorPeriod"),
        "filters": ref("IndicatorFilters"),
        "group_by": nullable(TEXT),
        "rows": {"type": "array", "items": ref("IndicatorRow")},
        "freshness": ref("Freshness"),
    }
)
EVENT_GROUP = {
    "label": TEXT,
    "events": COUNT,
    "present": {**COUNT, "description": "Participants présents"},
    "answers": {**COUNT, "description": "Réponses au questionnaire de satisfaction"},
    "useful": {**COUNT, "description": "Réponses « utile »"},
    "useful_share": {**RATE, "description": "useful / answers ; null sans réponse"},
}
COMPONENTS["EventGroupByType"] = _out({"type": TEXT, **EVENT_GROUP}, "Les événements d'un type.")
COMPONENTS["EventGroupByProgramme"] = _out({"programme": nullable(ID), **EVENT_GROUP}, "Les événements d'un programme.")
COMPONENTS["TargetProgress"] = _out(
    {
        "indicator": TEXT,
        "value": {"type": ["number", "null"], "description": "La valeur (taux en %, nombres en unités)"},
        "target": TARGET_VALUE,
        "expected": {
            "type": ["number", "null"],
            "description": "La cible au prorata des jours écoulés (un taux : la cible elle-même)",
        },
        "gap": TARGET_GAP,
        "projection": {
            "type": ["number", "null"],
            "description": "Projection en fin de période d'après la même période de l'an dernier",
        },
        "status": TARGET_STATUS,
    },
    "Un chiffre face à sa cible.",
)
COMPONENTS["ReportResult"] = _out(
    {
        "indicator": {**TEXT, "enum": ["report"]},
        "targets": {
            "type": "array",
            "items": ref("TargetProgress"),
            "description": "Chaque chiffre du rapport face à sa cible de l'année",
        },
        "period": ref("IndicatorPeriod"),
        "filters": ref("IndicatorFilters"),
        "figures": _out(
            {
                "structures_accompanied": {**COUNT, "description": "Structures ayant un projet actif dans la période"},
                "medico_social": {**ref("Ratio"), "description": "Médico-sociales parmi les structures accompagnées"},
                "other_offers": {
                    **ref("Ratio"),
                    "description": "Offres présentées hors coordination / offres présentées",
                },
                "territorial_events": COUNT,
                "webinars": COUNT,
                "webinar_participants": {**COUNT, "description": "Présents aux webinaires"},
                "webinar_useful": {**ref("Ratio"), "description": "Réponses « utile » / réponses, webinaires"},
                "events_by_type": {
                    "type": "array",
                    "items": ref("EventGroupByType"),
                    "description": "Événements ayant eu lieu, par type (chaque type actif a sa ligne)",
                },
                "events_by_programme": {
                    "type": "array",
                    "items": ref("EventGroupByProgramme"),
                    "description": "Événements ayant eu lieu, par programme (programme null : sans "
                    "programme ; un événement de deux programmes compte dans chacun)",
                },
            }
        ),
        "freshness": ref("Freshness"),
    }
)


# --- reference data ----------------------------------------------------------------------------------


def _list(item: dict, description: str) -> dict:
    return _out({"data": {"type": "array", "items": item}}, description)


COMPONENTS.update(
    {
        "ProgrammeList": _list(
            _out(
                {
                    "id": ID,
                    "number": {"type": "integer"},
                    "code": TEXT,
                    "label": TEXT,
                    "target_sectors": {"type": "array", "items": TEXT},
                    "active": BOOL,
                }
            ),
            "Les programmes du CPOM.",
        ),
        "OfferList": _list(
            _out({"id": ID, "code": TEXT, "label": TEXT, "programme_id": ID, "active": BOOL}), "Les offres."
        ),
        "SectorList": _list(_out({"id": ID, "code": TEXT, "label": TEXT, "is_es_esms": BOOL}), "Les secteurs."),
        "DepartmentList": _list(
            _out({"code": TEXT, "name": TEXT, "region_code": TEXT, "region_name": TEXT}), "Les départements."
        ),
        "EventTypeList": _list(
            _out({"id": ID, "code": TEXT, "label": TEXT, "active": BOOL}), "Les types d'événements."
        ),
        "LossReasonList": _list(_out({"id": ID, "label": TEXT, "active": BOOL}), "Les raisons de perte."),
    }
)


# --- targets -----------------------------------------------------------------------------------------

from crm.targets.models import INDICATORS as TARGET_INDICATORS  # noqa: E402

COMPONENTS.update(
    {
        "Target": _out(
            {
                "id": ID,
                "url": URL,
                "indicator": {**TEXT, "enum": list(TARGET_INDICATORS)},
                "label": TEXT,
                "unit": {**TEXT, "enum": ["percent", "count"]},
                "year": {"type": "integer"},
                "department": nullable({**TEXT, "description": "null : la région"}),
                "programme_id": nullable({**ID, "description": "null : tous les programmes"}),
                "value": {"type": "number", "description": "Taux en % (0 à 100), nombres en unités"},
            },
            "Une cible de la note d'objectifs annuelle.",
        ),
        "TargetInput": obj(
            {
                "indicator": {**TEXT, "enum": list(TARGET_INDICATORS)},
                "year": {"type": "integer"},
                "department": nullable({**TEXT, "maxLength": 6, "description": "null ou absent : la région"}),
                "programme_id": nullable({**ID, "description": "null ou absent : tous les programmes"}),
                "value": {
                    "type": ["number", "string"],
                    "description": "Taux en % (0 à 100), nombres entiers positifs ; « 12,5 » accepté",
                },
            },
            ["indicator", "year", "value"],
        ),
    }
)
COMPONENTS["TargetPage"] = _page("Target")


# --- networks (issue 14) -----------------------------------------------------------------------------

COMPONENTS.update(
    {
        "GrappeAttribution": _out(
            {
                "grappes": {"type": "integer"},
                "formed_via_rendez_vous": {"type": "integer"},
                "share": nullable({"type": "number", "description": "De 0 à 1 ; null sans grappe"}),
            },
            "Les grappes et celles formées via un Rendez-vous ESMS numérique.",
        ),
        "Referent": _out(
            {
                "id": ID,
                "contact_id": ID,
                "structure_id": ID,
                "department": TEXT,
                "offer_id": ID,
                "started_on": DATE,
            },
            "Un référent en fonction.",
        ),
        "ReferentPage": _page("Referent"),
        "MeshTarget": _out(
            {
                "structure_id": ID,
                "name": TEXT,
                "department": TEXT,
                "users": {"type": "integer", "minimum": 1, "description": "Structures utilisatrices liées."},
                "linked_users": {
                    "type": "array",
                    "items": _out({"structure_id": ID, "link_type": TEXT}),
                },
            },
            "Un partenaire de structures utilisatrices de l'offre qui ne l'utilise pas encore.",
        ),
        "MeshTargetPage": _page("MeshTarget"),
    }
)
# --- usage of the services (issue 14) -------------------------------------------------------------------

COMPONENTS.update(
    {
        "UsageInput": obj(
            {
                "offer": {**TEXT, "maxLength": 60, "description": "Code de l'offre (SPICO_DOSSIERS, MSSANTE…)"},
                "figures": {
                    "type": "array",
                    "maxItems": 10000,
                    "items": obj(
                        {
                            "finess": {**TEXT, "description": "FINESS ET (9 caractères), ou siret"},
                            "siret": {**TEXT, "description": "SIRET (14 chiffres), ou finess"},
                            "month": {**TEXT, "description": "AAAA-MM"},
                            "value": {"type": "integer", "minimum": 0},
                        },
                        ["month", "value"],
                    ),
                },
            },
            ["offer", "figures"],
        ),
        "UsageResult": _out(
            {
                "offer": TEXT,
                "source": TEXT,
                "total": {"type": "integer"},
                "created": {"type": "integer"},
                "updated": {"type": "integer"},
                "unchanged": {"type": "integer"},
                "rejected": {"type": "integer"},
                "statuses": {"type": "integer", "description": "Structures passées en « usage actif »"},
                "months": {"type": "array", "items": TEXT},
                "rejects": {
                    "type": "array",
                    "items": _out({"line": {"type": "integer"}, "reason": TEXT}),
                    "description": "Les éléments refusés : line est leur rang dans figures (à partir de 1)",
                },
            },
            "Le bilan d'un envoi de chiffres d'usage.",
        ),
    }
)

_DEPLOYMENT_ROW = {
    "department": nullable({**TEXT, "description": "null : l'ensemble"}),
    "label": TEXT,
    "eligible": {"type": "integer", "description": "Structures éligibles ouvertes"},
    "deployed": {"type": "integer", "description": "Éligibles au statut « déployé » ou au-delà"},
    "deployment_rate": nullable({"type": "number", "description": "deployed / eligible (0 à 1)"}),
    "active": {"type": "integer", "description": "Éligibles avec un usage au-dessus de zéro sur la période"},
    "active_rate": nullable({"type": "number", "description": "active / eligible (0 à 1)"}),
}
COMPONENTS["DeploymentRow"] = _out(_DEPLOYMENT_ROW, "Le déploiement et l'usage d'une offre dans un département.")
COMPONENTS["DeploymentOffer"] = _out(
    {
        "offer_id": ID,
        "offer": TEXT,
        "label": TEXT,
        "start": nullable({**TEXT, "description": "Premier mois de la période d'usage (AAAA-MM)"}),
        "end": nullable({**TEXT, "description": "Dernier mois de la période d'usage (AAAA-MM)"}),
        "departments": {"type": "array", "items": ref("DeploymentRow")},
        "total": ref("DeploymentRow"),
    },
    "Une offre : ses départements et l'ensemble.",
)
COMPONENTS["DeploymentIndicators"] = _out(
    {"data": {"type": "array", "items": ref("DeploymentOffer")}}, "Taux de déploiement et d'usage actif par offre."
)
