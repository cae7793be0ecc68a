from wtforms import BooleanField, EmailField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional
from wtforms.widgets import DateInput

from crm.platform.forms import Form
from crm.structures.contacts import CIVILITIES


class StructureForm(Form):
    """Field names match the service's input; validation messages come from the service."""

    name = StringField("Nom", validators=[Length(max=255)])
    long_name = StringField("Raison sociale longue", validators=[Optional(), Length(max=255)])
    finess_et = StringField("N° FINESS établissement", validators=[Optional(), Length(max=20)])
    finess_ej = StringField("N° FINESS juridique", validators=[Optional(), Length(max=20)])
    siret = StringField("SIRET", validators=[Optional(), Length(max=30)])
    sector_id = SelectField("Secteur", choices=[], validate_choice=False)
    category_id = SelectField("Catégorie", choices=[], validate_choice=False)
    address = StringField("Adresse", validators=[Optional(), Length(max=255)])
    postal_code = StringField("Code postal", validators=[Optional(), Length(max=10)])
    commune = StringField("Commune", validators=[Optional(), Length(max=120)])
    department_code = SelectField("Département", choices=[], validate_choice=False)
    phone = StringField("Téléphone", validators=[Optional(), Length(max=30)])
    email = EmailField("E-mail", validators=[Optional(), Length(max=254)])
    website = StringField("Site web", validators=[Optional(), Length(max=255)])
    is_open = BooleanField("Structure ouverte", default=True)
    closed_on = StringField("Date de fermeture", widget=DateInput())
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])
    version = HiddenField()


class ContactForm(Form):
    civility = SelectField("Civilité", choices=[(c, c or "—") for c in CIVILITIES], validate_choice=False)
    first_name = StringField("Prénom", validators=[Optional(), Length(max=80)])
    last_name = StringField("Nom", validators=[Optional(), Length(max=80)])
    function = StringField("Fonction", validators=[Optional(), Length(max=120)])
    email = EmailField("E-mail professionnel", validators=[Optional(), Length(max=254)])
    phone = StringField("Téléphone", validators=[Optional(), Length(max=30)])
    consent = BooleanField("La personne accepte d'être contactée (RGPD)")
    source = StringField("Source (visite, événement…)", validators=[Optional(), Length(max=40)])


class ConfirmForm(Form):
    """An empty form: only its CSRF token, for POST buttons (delete, erase)."""
