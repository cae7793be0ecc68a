"""Forms of the follow-up pages: attendance import, survey, matching. French messages come from the services."""

from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField

from crm.events.followup.attendance_columns import TOOLS
from crm.platform.forms import Form


class AttendanceImportForm(Form):
    report = FileField("Rapport de présence exporté de l'outil (CSV ou Excel)")
    tool = SelectField("Outil de visioconférence", choices=list(TOOLS.items()), validate_choice=False)
    upload_id = HiddenField()
    add_walk_ins = BooleanField("Ajouter comme présents les participants qui ne s'étaient pas inscrits")


class SurveyForm(Form):
    useful = RadioField(
        "Cet événement vous a-t-il été utile ?", choices=[("oui", "Oui"), ("non", "Non")], validate_choice=False
    )
    score = RadioField(
        "Votre note, de 1 (décevant) à 5 (excellent)",
        choices=[(str(n), str(n)) for n in range(1, 6)],
        validate_choice=False,
    )
    comment = TextAreaField("Un commentaire, une suggestion ? (facultatif)")


class ResolveForm(Form):
    structure_query = StringField("Structure")
    structure_id = HiddenField()
