"""Event and registration forms: CSRF and options; the French validation messages come from the services."""

from functools import partial

from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import EmailInput, NumberInput, TextInput

from crm.events.models import ATTENDANCE_STATUSES, REGISTRATION_STATUSES
from crm.platform import web
from crm.platform.forms import Form
from crm.referential.services import department_choices as referential_department_choices


class DateTimeInput(TextInput):
    input_type = "datetime-local"


class EventForm(Form):
    type_id = SelectField("Type", choices=[], validate_choice=False)
    title = StringField("Titre")
    description = TextAreaField("Description")
    starts_at = StringField("Début (heure de Paris)", widget=DateTimeInput())
    ends_at = StringField("Fin (heure de Paris)", widget=DateTimeInput())
    place_name = StringField("Lieu")
    address = StringField("Adresse")
    department_code = SelectField("Département du lieu", choices=[], validate_choice=False)
    online_url = StringField("Lien de connexion (webinaire)")
    capacity = StringField("Capacité (vide = illimitée)", widget=NumberInput(min=1))
    programme_ids = SelectMultipleField("Programmes", choices=[], validate_choice=False)
    offer_ids = SelectMultipleField("Offres présentées", choices=[], validate_choice=False)
    organiser_id = SelectField("Organisateur", choices=[], validate_choice=False)
    registration_opens_at = StringField("Ouverture des inscriptions", widget=DateTimeInput())
    registration_closes_at = StringField("Clôture des inscriptions", widget=DateTimeInput())
    version = HiddenField()


class DuplicateForm(Form):
    starts_at = StringField("Nouveau début (heure de Paris)", widget=DateTimeInput())
    department_code = SelectField("Département", choices=[], validate_choice=False)
    place_name = StringField("Lieu")
    address = StringField("Adresse")


class RegistrationForm(Form):
    """The public form, also used by the team to add someone by hand."""

    first_name = StringField("Prénom")
    last_name = StringField("Nom")
    email = StringField("Email professionnel", widget=EmailInput())
    function = StringField("Fonction")
    structure_query = StringField("Votre structure")
    structure_id = HiddenField()
    structure_name = StringField("Structure (si elle n'est pas dans la liste)")
    department_code = SelectField("Département de la structure", choices=[], validate_choice=False)
    consent_contact = BooleanField("J'accepte d'être recontacté(e) par l'équipe au sujet de ses services")
    # Honeypot: hidden from people, filled by robots.
    website = StringField("Ne pas remplir ce champ")


class StatusForm(Form):
    """A bare POST with its CSRF token (publish, close, cancel, check-in actions)."""

    status = HiddenField()


ATTENDANCE_CHOICES = [(s, REGISTRATION_STATUSES[s]) for s in ATTENDANCE_STATUSES]


def department_choices(blank: str = "— Département —") -> dict:
    return referential_department_choices(blank)


# The events' forms show a refused structure_id on the structure search field and list the other refusals
# on the form itself (the public pages show no flashed messages).
apply_errors = partial(web.apply_errors, aliases={"structure_id": "structure_query"}, flash_others=False)


def registration_data(form: RegistrationForm) -> dict:
    return {
        name: form._fields[name].data
        for name in (
            "first_name",
            "last_name",
            "email",
            "function",
            "structure_id",
            "structure_name",
            "department_code",
            "consent_contact",
        )
    }
