"""The base of every form: Flask-WTF (CSRF) with WTForms' own French messages.

Flask-WTF translates through Flask-Babel, which we do not use; with ``WTF_I18N_ENABLED`` off
(set in ``crm.config``) WTForms loads its bundled French catalogue for the built-in messages
("Valeur entière invalide", bounds...), so no English reaches a user.
"""
from __future__ import annotations

from flask_wtf import FlaskForm


class Form(FlaskForm):
    class Meta:
        locales = ("fr_FR", "fr")
