from wtforms import SelectField

from crm.platform.forms import Form


class ServiceStatusForm(Form):
    """Set the status of one offer in a structure, on its page."""

    offer_id = SelectField("Service", choices=[], validate_choice=False)
    status = SelectField("Statut", choices=[], validate_choice=False)


class EligibilityForm(Form):
    """Add a structure to an offer's population by hand, exclude it, or go back to the rule."""

    offer_id = SelectField("Service", choices=[], validate_choice=False)
    choice = SelectField("Éligibilité", choices=[], validate_choice=False)


ELIGIBILITY_CHOICES = [
    ("regle", "Selon la règle de l'offre"),
    ("ajoutee", "Ajoutée à la main"),
    ("exclue", "Exclue à la main"),
]
