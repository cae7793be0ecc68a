from crm.core.forms import EmailAddress, Form, SingleLine
from wtforms import BooleanField, EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional

from crm.accounts.models import ROLES


class LoginForm(Form):
    email = EmailField("Adresse e-mail", validators=[DataRequired("Saisissez votre adresse e-mail."),
                                                     Length(max=254)])
    password = PasswordField("Mot de passe", validators=[DataRequired("Saisissez votre mot de passe."),
                                                         Length(max=200)])
    remember = BooleanField("Rester connecté")


class UserForm(Form):
    email = EmailField("Adresse e-mail", validators=[DataRequired("L'adresse e-mail est obligatoire."),
                                                     EmailAddress(), Length(max=254)])
    first_name = StringField("Prénom", validators=[Optional(), Length(max=80), SingleLine()])
    last_name = StringField("Nom", validators=[Optional(), Length(max=80), SingleLine()])
    role = SelectField("Rôle", choices=list(ROLES.items()))
    departments = SelectMultipleField("Départements (animateurs)", choices=[])
    password = PasswordField("Mot de passe (laisser vide pour ne pas le changer)",
                             validators=[Optional(), Length(min=10, max=200,
                                                            message="Au moins 10 caractères.")])
    active = BooleanField("Compte actif", default=True)
