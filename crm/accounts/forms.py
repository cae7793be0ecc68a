from wtforms import BooleanField, EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from crm.accounts.models import ROLES
from crm.platform.forms import EmailAddress, Form, SingleLine


class LoginForm(Form):
    email = EmailField("Adresse e-mail", validators=[DataRequired("Saisissez votre adresse e-mail."), Length(max=254)])
    password = PasswordField(
        "Mot de passe", validators=[DataRequired("Saisissez votre mot de passe."), Length(max=200)]
    )
    remember = BooleanField("Rester connecté")


class UserForm(Form):
    email = EmailField(
        "Adresse e-mail",
        validators=[DataRequired("L'adresse e-mail est obligatoire."), EmailAddress(), Length(max=254)],
    )
    first_name = StringField("Prénom", validators=[Optional(), Length(max=80), SingleLine()])
    last_name = StringField("Nom", validators=[Optional(), Length(max=80), SingleLine()])
    role = SelectField("Rôle", choices=list(ROLES.items()))
    departments = SelectMultipleField("Départements (animateurs)", choices=[])
    password = PasswordField(
        "Mot de passe (laisser vide pour ne pas le changer)",
        validators=[Optional(), Length(min=10, max=200, message="Au moins 10 caractères.")],
    )
    active = BooleanField("Compte actif", default=True)


class PasswordChangeForm(Form):
    current_password = PasswordField(
        "Mot de passe actuel", validators=[DataRequired("Saisissez votre mot de passe actuel."), Length(max=200)]
    )
    new_password = PasswordField(
        "Nouveau mot de passe",
        validators=[
            DataRequired("Saisissez un nouveau mot de passe."),
            Length(min=10, max=200, message="Au moins 10 caractères."),
        ],
    )
    confirmation = PasswordField(
        "Confirmation du nouveau mot de passe",
        validators=[
            DataRequired("Saisissez à nouveau le nouveau mot de passe."),
            EqualTo("new_password", "Les deux saisies ne correspondent pas."),
        ],
    )


class ApiTokenForm(Form):
    current_password = PasswordField(
        "Votre mot de passe", validators=[DataRequired("Saisissez votre mot de passe."), Length(max=200)]
    )
    days = SelectField(
        "Durée de validité", coerce=int, default=365, choices=[(30, "30 jours"), (90, "90 jours"), (365, "1 an")]
    )
