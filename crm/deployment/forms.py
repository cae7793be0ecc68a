from wtforms import SelectField

from crm.platform.forms import Form


class ServiceStatusForm(Form):
    """Set the status of one offer in a structure, on its page."""

    offer_id = SelectField("Service", choices=[], validate_choice=False)
    status = SelectField("Statut", choices=[], validate_choice=False)
