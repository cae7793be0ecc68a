"""Account operations: authentication with throttling, users, API tokens."""
from __future__ import annotations

from datetime import timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, delete, func, select

from crm.accounts.models import ROLES, ApiToken, LoginFailure, User, user_departments
from crm.core.events import record_change
from crm.core.records import attach_loaded
from crm.core.models import utcnow
from crm.core.validation import email_error, line_break_error
from crm.extensions import db
from crm.referential.models import Department


class AccountError(ValueError):
    """A refused account operation, with a French message for the user."""


class LoginThrottled(AccountError):
    pass


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _recent_failures(column, value) -> int:
    window = timedelta(minutes=current_app.config["LOGIN_THROTTLE_WINDOW_MINUTES"])
    return db.session.scalar(
        select(func.count()).select_from(LoginFailure).where(column == value, LoginFailure.at >= utcnow() - window)
    ) or 0


def authenticate(email: str, password: str, remote_addr: str) -> User | None:
    """The user for these credentials, or None; raises LoginThrottled after too many failures.

    Throttling counts failures per email and per client address, so one
    attacker cannot lock everyone out and one account cannot be brute-forced.
    """
    email = normalise_email(email)
    remote_addr = (remote_addr or "inconnue")[:64]
    minutes = current_app.config["LOGIN_THROTTLE_WINDOW_MINUTES"]
    if (_recent_failures(LoginFailure.email, email) >= current_app.config["LOGIN_MAX_FAILURES_PER_EMAIL"]
            or _recent_failures(LoginFailure.remote_addr, remote_addr)
            >= current_app.config["LOGIN_MAX_FAILURES_PER_IP"]):
        raise LoginThrottled(
            f"Trop de tentatives de connexion échouées. Réessayez dans {minutes} minutes."
        )
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None or not user.active or not user.check_password(password):
        db.session.add(LoginFailure(email=email[:254], remote_addr=remote_addr))
        db.session.commit()
        return None
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def _departments(codes: list[str]) -> list[Department]:
    codes = [c.strip().upper() if c.strip().upper() in ("2A", "2B") else c.strip() for c in codes if c.strip()]
    departments = list(db.session.scalars(select(Department).where(Department.code.in_(codes))))
    unknown = set(codes) - {d.code for d in departments}
    if unknown:
        raise AccountError("Département(s) inconnu(s) : " + ", ".join(sorted(unknown)))
    return departments


def department_animator(department_code: str | None) -> User | None:
    """The animator of a department: the active animateur assigned to it, the lowest id if several."""
    if not department_code:
        return None
    return db.session.scalar(
        select(User).join(user_departments, user_departments.c.user_id == User.id)
        .where(user_departments.c.department_code == department_code, User.role == "animateur",
               User.active.is_(True)).order_by(User.id).limit(1))


def validate_password(password: str) -> None:
    if len(password or "") < 10:
        raise AccountError("Le mot de passe doit comporter au moins 10 caractères.")


def save_user(user: User | None, *, email: str, role: str, first_name: str = "", last_name: str = "",
              department_codes: list[str] | None = None, password: str | None = None,
              active: bool = True, origin: str | None = None) -> User:
    """Create (``user`` None) or update an account, with audit and event."""
    email = normalise_email(email)
    if message := email_error(email):
        raise AccountError(message)
    if message := line_break_error(first_name) or line_break_error(last_name):
        raise AccountError(f"Prénom et nom : {message[0].lower()}{message[1:]}")
    if role not in ROLES:
        raise AccountError(f"Rôle inconnu : {role}. Rôles possibles : {', '.join(ROLES)}.")
    existing = db.session.scalar(select(User).where(User.email == email))
    if existing is not None and existing is not user:
        raise AccountError(f"Un compte existe déjà pour {email}.")
    departments = _departments(department_codes or [])
    if role == "animateur" and not departments:
        raise AccountError("Un animateur doit avoir au moins un département.")
    creating = user is None
    before = {} if creating else _snapshot(user)
    if creating:
        if not password:
            raise AccountError("Un mot de passe est requis pour créer un compte.")
        user = User(email=email, role=role)
        db.session.add(user)
    if password:
        validate_password(password)
        user.set_password(password)
    user.email, user.role, user.first_name, user.last_name, user.active = email, role, first_name, last_name, active
    user.departments = departments if role == "animateur" else []
    db.session.flush()
    after = _snapshot(user)
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    if password and not creating:
        changes["password"] = ["***", "***"]
    record_change(entity_type="user", entity_id=user.id, action="create" if creating else "update",
                  changes=changes, event_type="user.created" if creating else "user.updated",
                  payload={"user_id": user.id, "role": user.role, "departments": sorted(user.department_codes)},
                  origin=origin)
    db.session.commit()
    return user


def _snapshot(user: User) -> dict:
    return {"email": user.email, "role": user.role, "first_name": user.first_name,
            "last_name": user.last_name, "active": user.active, "departments": sorted(user.department_codes)}


def create_api_token(user: User) -> str:
    """Issue a personal API token; the clear value is returned once, only its hash is kept."""
    token_row, token = ApiToken.issue(user)
    db.session.add(token_row)
    db.session.flush()
    record_change(entity_type="user", entity_id=user.id, action="token", changes={"token": [None, token_row.prefix]},
                  event_type="api_token.created", payload={"user_id": user.id, "token_id": token_row.id})
    db.session.commit()
    return token


@cache
def _token_query():
    """Every API call runs this query: the token's user and the user's departments (the permission
    checks read them) in one round trip, one row per department, as plain columns; built once."""
    users, departments = User.__table__, Department.__table__
    return (select(users, *(column.label("department_" + column.key) for column in departments.c))
            .select_from(ApiToken.__table__)
            .join(users, users.c.id == ApiToken.__table__.c.user_id)
            .outerjoin(user_departments, user_departments.c.user_id == users.c.id)
            .outerjoin(departments, departments.c.code == user_departments.c.department_code)
            .where(ApiToken.__table__.c.token_hash == bindparam("token_hash"),
                   ApiToken.__table__.c.revoked_at.is_(None))
            .order_by(departments.c.code))


def user_for_token(token: str) -> User | None:
    """The active user owning this unrevoked token, with its departments loaded.

    Read with Core and handed back as ORM objects (``attach_loaded``): building them from an
    eager-joined ORM query took as much CPU as the rest of an API call's authentication.
    """
    rows = db.session.connection().execute(_token_query(), {"token_hash": ApiToken.hash(token)}).all()
    if not rows or not rows[0].active:
        return None
    departments = [attach_loaded(Department, {column.key: row._mapping["department_" + column.key]
                                              for column in Department.__table__.c})
                   for row in rows if row.department_code is not None]
    return attach_loaded(User, {column.key: rows[0]._mapping[column] for column in User.__table__.c},
                         departments=departments)
