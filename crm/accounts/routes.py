"""Login, logout, one's own password and API tokens, and the admin's user management."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from crm.accounts import permissions, services, sessions
from crm.accounts.forms import ApiTokenForm, LoginForm, PasswordChangeForm, UserForm
from crm.accounts.models import ApiToken, User
from crm.accounts.permissions import admin_required
from crm.platform.extensions import db, login_manager
from crm.platform.models import utcnow
from crm.platform.security import is_safe_redirect
from crm.referential.services import department_choices

bp = Blueprint("accounts", __name__)

login_manager.user_loader(sessions.user_for_session)
login_manager.request_loader(sessions.login_from_remember_cookie)
bp.after_app_request(sessions.write_remember_cookie)


@bp.app_context_processor
def permission_helpers():
    """What every template may ask of the signed-in user's rights."""
    return {
        "can_edit_structure": lambda s: permissions.can_edit_structure(current_user, s),
        "can_create_structure": lambda: permissions.can_create_structure(current_user),
        "can_delete_structure": lambda: permissions.can_delete_structure(current_user),
        "is_admin": lambda: permissions.is_admin(current_user),
    }


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data, request.remote_addr)
        except services.LoginThrottled as error:
            form.email.errors.append(str(error))
            return render_template("accounts/login.html", form=form), 429
        if user is None:
            form.password.errors.append("Adresse e-mail ou mot de passe incorrect.")
        else:
            login_user(user)
            if form.remember.data:
                sessions.remember(user)
            target = request.args.get("next")
            return redirect(target if is_safe_redirect(target) else url_for("core.home"))
    return render_template("accounts/login.html", form=form)


@bp.route("/deconnexion", methods=["POST"])
@login_required
def logout():
    """Log out here and everywhere else: every session and remember-me cookie of the account ends."""
    user = current_user._get_current_object()
    logout_user()
    sessions.end_all_sessions(user)
    db.session.commit()
    sessions.forget()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/admin/utilisateurs")
@admin_required
def users():
    rows = db.session.scalars(select(User).order_by(User.role, User.last_name, User.email)).all()
    return render_template("accounts/users.html", users=rows)


def _user_form(user: User | None) -> UserForm:
    form = UserForm(obj=user)
    form.departments.choices = department_choices()
    if user is not None and request.method == "GET":
        form.departments.data = sorted(user.department_codes)
    return form


@bp.route("/admin/utilisateurs/nouveau", methods=["GET", "POST"])
@bp.route("/admin/utilisateurs/<int:user_id>", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int | None = None):
    user = db.session.get(User, user_id) if user_id else None
    if user_id and user is None:
        abort(404)
    form = _user_form(user)
    if form.validate_on_submit():
        if user is not None and user.id == current_user.id and (form.role.data != "admin" or not form.active.data):
            flash("Vous ne pouvez pas retirer vos propres droits d'administrateur.", "error")
        else:
            try:
                services.save_user(
                    user,
                    email=form.email.data,
                    role=form.role.data,
                    first_name=form.first_name.data or "",
                    last_name=form.last_name.data or "",
                    department_codes=form.departments.data,
                    password=form.password.data or None,
                    active=form.active.data,
                )
            except services.AccountError as error:
                db.session.rollback()
                flash(str(error), "error")
            else:
                if user is not None and user.id == current_user.id and form.password.data:
                    login_user(user)  # a new password ends the admin's other sessions, not this one
                flash("Compte enregistré.", "success")
                return redirect(url_for("accounts.users"))
    return render_template("accounts/user_form.html", form=form, user=user)


@bp.route("/mon-compte/mot-de-passe", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    status = 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            services.change_own_password(user, form.current_password.data, form.new_password.data, request.remote_addr)
        except services.AccountError as error:
            db.session.rollback()
            form.current_password.errors.append(str(error))
            status = 429 if isinstance(error, services.LoginThrottled) else 200
        else:
            login_user(user)  # this browser stays logged in, under the new session version
            sessions.forget()
            flash("Mot de passe modifié. Vos autres sessions et vos jetons d'API ont été fermés.", "success")
            return redirect(url_for("core.home"))
    return render_template("accounts/password.html", form=form), status


@bp.route("/mon-compte/jetons", methods=["GET", "POST"])
@login_required
def api_tokens():
    """Mes jetons d'API: list, create (the clear value is shown on this answer only), revoke."""
    form = ApiTokenForm()
    new_token, status = None, 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            # A token outlives the session: whoever borrowed a session must not mint one.
            services.verify_current_password(user, form.current_password.data, request.remote_addr)
        except services.AccountError as error:
            db.session.rollback()
            form.current_password.errors.append(str(error))
            status = 429 if isinstance(error, services.LoginThrottled) else 200
        else:
            new_token = services.create_api_token(user, form.days.data)
    return render_template(
        "accounts/api_tokens.html",
        form=form,
        new_token=new_token,
        tokens=services.api_tokens(current_user),
        now=utcnow(),
    ), status


@bp.route("/mon-compte/jetons/<int:token_id>/revoquer", methods=["POST"])
@login_required
def revoke_api_token(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404)
    if services.revoke_api_tokens(current_user, token_id):
        flash(f"Jeton {token.prefix}… révoqué.", "success")
    else:
        flash(f"Le jeton {token.prefix}… était déjà révoqué.", "info")
    return redirect(url_for("accounts.api_tokens"))
