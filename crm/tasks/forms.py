from wtforms import HiddenField, StringField, TextAreaField
from wtforms.widgets import DateInput

from crm.platform.forms import Form


class TaskForm(Form):
    """A task created by hand; field names match ``create_task``, its messages come from the service."""

    title = StringField("Objet de la relance")
    due_on = StringField("Échéance", widget=DateInput())
    # Filled by the structure autocomplete; the visible text field only helps choose.
    structure_id = HiddenField()
    structure_label = StringField("Structure (facultatif)")
    description = TextAreaField("Description")
