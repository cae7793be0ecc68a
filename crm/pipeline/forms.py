"""Opportunity, project and milestone forms.

Field names match the services' input; the validation messages come from the
services (in French), the forms only carry the CSRF token and the select options.
"""

from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.widgets import DateInput

from crm.pipeline.models import PROJECT_STATUSES, SOURCES
from crm.platform.forms import Form


def offer_choices(groups) -> dict:
    """``<optgroup>`` per programme: choosing the offer chooses its programme."""
    choices: dict = {None: [("", "— Choisir une offre —")]}
    for programme, offers in groups:
        choices[f"{programme.number}. {programme.label}"] = [(str(o.id), o.label) for o in offers]
    return choices


def owner_choices(users, blank: str | None = None) -> list[tuple[str, str]]:
    return ([("", blank)] if blank else []) + [(str(u.id), u.display_name) for u in users]


class OpportunityForm(Form):
    # Rendered by the template: fixed, chosen among an activity's structures, or found by autocomplete.
    structure_id = HiddenField()
    offer_id = SelectField("Offre", choices=[], validate_choice=False)
    title = StringField("Titre")
    need = TextAreaField("Besoin exprimé")
    source = SelectField("Origine", choices=list(SOURCES.items()), default="visite", validate_choice=False)
    # Only read when the source is "evenement" (the page shows it only then).
    source_event_id = SelectField("Événement concerné", choices=[], validate_choice=False)
    owner_id = SelectField("Responsable", choices=[], validate_choice=False)
    expected_on = StringField("Décision attendue le", widget=DateInput())
    identified_on = StringField("Besoin identifié le", widget=DateInput())
    source_activity_id = HiddenField()


class OpportunityEditForm(Form):
    title = StringField("Titre")
    need = TextAreaField("Besoin exprimé")
    owner_id = SelectField("Responsable", choices=[], validate_choice=False)
    expected_on = StringField("Décision attendue le", widget=DateInput())
    version = HiddenField()


class ProjectForm(Form):
    structure_id = HiddenField()
    offer_id = SelectField("Offre", choices=[], validate_choice=False)
    title = StringField("Titre")
    started_on = StringField("Début", widget=DateInput())
    owner_id = SelectField("Responsable", choices=[], validate_choice=False)
    notes = TextAreaField("Notes")


class ProjectEditForm(Form):
    title = StringField("Titre")
    status = SelectField("Statut", choices=list(PROJECT_STATUSES.items()), validate_choice=False)
    started_on = StringField("Début", widget=DateInput())
    ended_on = StringField("Fin", widget=DateInput())
    notes = TextAreaField("Notes")
    version = HiddenField()


class MilestoneForm(Form):
    label = StringField("Jalon")
    due_on = StringField("Échéance", widget=DateInput())
