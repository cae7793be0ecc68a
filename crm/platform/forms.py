"""The base of every form: Flask-WTF (CSRF) with WTForms' own French messages.

Flask-WTF translates through Flask-Babel, which we do not use; with ``WTF_I18N_ENABLED`` off
(set in ``crm.platform.config``) WTForms loads its bundled French catalogue for the built-in messages
("Valeur entière invalide", bounds...), so no English reaches a user.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms.validators import ValidationError

from crm.platform.validation import email_error, line_break_error


class Form(FlaskForm):
    class Meta:
        locales = ("fr_FR", "fr")


class SingleLine:
    """WTForms validator for a name or title: :func:`crm.platform.validation.line_break_error`."""

    def __call__(self, form, field):
        if error := line_break_error(field.data):
            raise ValidationError(error)


class EmailAddress:
    """WTForms validator: the app's one email rule, :func:`crm.platform.validation.email_error`."""

    def __call__(self, form, field):
        if field.data and (error := email_error(field.data.strip())):
            raise ValidationError(error)
