from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import DateInput, NumberInput

from crm.activities.models import KINDS
from crm.platform.forms import Form


class ActivityForm(Form):
    """Field names match ``log_activity``'s input; every validation message comes from the service.

    Dates and numbers are plain strings here, so that a malformed value reaches the service
    and gets its French message instead of WTForms' English one.
    """

    structure_ids = SelectMultipleField("Structure(s) concernée(s)", choices=[], validate_choice=False)
    kind = SelectField("Type d'activité", choices=list(KINDS.items()), validate_choice=False, default="visite")
    occurred_on = StringField("Date", widget=DateInput())
    duration_minutes = StringField("Durée (minutes)", widget=NumberInput(min=0, max=1440, step=5))
    contact_ids = SelectMultipleField("Contacts rencontrés", choices=[], validate_choice=False)
    programme_ids = SelectMultipleField("Programmes abordés", choices=[], validate_choice=False)
    offer_ids = SelectMultipleField("Offres présentées", choices=[], validate_choice=False)
    subject = StringField("Objet")
    notes = TextAreaField("Notes")
    is_information = BooleanField("Activité d'information (compte pour l'indicateur de participation du CPOM)")
    next_step = StringField("Prochaine étape")
    next_step_due_on = StringField("Échéance de la prochaine étape", widget=DateInput())
    # Shown once the service has found the same activity logged a moment ago.
    confirm_duplicate = BooleanField("Je confirme : c'est une autre activité, à enregistrer aussi")
    # The structure page the form was opened from: where to go back after saving.
    origin = HiddenField()

    SERVICE_FIELDS = (
        "structure_ids",
        "kind",
        "occurred_on",
        "duration_minutes",
        "contact_ids",
        "programme_ids",
        "offer_ids",
        "subject",
        "notes",
        "is_information",
        "next_step",
        "next_step_due_on",
        "confirm_duplicate",
    )

    def service_data(self) -> dict:
        return {name: self._fields[name].data for name in self.SERVICE_FIELDS}
