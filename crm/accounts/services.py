"""Account operations: authentication with throttling, users, API tokens."""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, delete, func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from crm.accounts.models import ROLES, ApiToken, LoginFailure, User, user_departments
from crm.accounts.sessions import end_all_sessions
from crm.platform.events import record_change
from crm.platform.extensions import db
from crm.platform.locking import LOGIN_ADDRESS, advisory_lock
from crm.platform.models import utcnow
from crm.platform.records import attach_loaded
from crm.platform.validation import email_error, line_break_error
from crm.referential.models import Department


class AccountError(ValueError):
    """A refused account operation, with a French message for the user."""


class LoginThrottled(AccountError):
    pass


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


# What an unknown or inactive account's password is checked against: the answer then costs one hash
# check whatever the email, and its time tells nobody which emails have an account (it was 101 ms
# for a known email, 6 ms for an unknown one). Made by the function that hashes real passwords.
@cache
def dummy_password_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def _serialise_address(remote_addr: str) -> None:
    """Hold, until the next commit, the lock of the attempts from one client address.

    Every counter keys on the address, so under it "count, then record" is one step: 30 concurrent
    bad attempts used to store 7 failures for a limit of 5. A transaction-level advisory lock on
    PostgreSQL (its own key space); on SQLite a no-op write takes the database's write lock, which
    is why it must come first in its transaction.
    """
    advisory_lock(LOGIN_ADDRESS, remote_addr)


def _reserve_attempt(email: str, remote_addr: str) -> None:
    """Count this attempt as a failure before its password is checked, or refuse it (LoginThrottled).

    Counted first, an attacker firing many attempts at once gets no more guesses than the limit:
    the failure is deleted if the password turns out right. The limits: per (email, address),
    so that a stranger elsewhere cannot lock a user out; per address, higher, so that one person
    cannot lock a whole office behind one address.
    """
    config = current_app.config
    window = timedelta(minutes=config["LOGIN_THROTTLE_WINDOW_MINUTES"])
    db.session.commit()
    _serialise_address(remote_addr)
    since = utcnow() - window
    db.session.execute(delete(LoginFailure).where(LoginFailure.remote_addr == remote_addr, LoginFailure.at < since))
    for_pair, for_address = db.session.execute(
        select(func.count().filter(LoginFailure.email == email), func.count()).where(
            LoginFailure.remote_addr == remote_addr, LoginFailure.at >= since
        )
    ).one()
    if for_pair >= config["LOGIN_MAX_FAILURES_PER_EMAIL"] or for_address >= config["LOGIN_MAX_FAILURES_PER_IP"]:
        db.session.commit()
        raise LoginThrottled(
            f"Trop de tentatives de connexion échouées. Réessayez dans "
            f"{config['LOGIN_THROTTLE_WINDOW_MINUTES']} minutes."
        )
    db.session.add(LoginFailure(email=email, remote_addr=remote_addr))
    db.session.commit()


def authenticate(email: str, password: str, remote_addr: str) -> User | None:
    """The user for these credentials, or None; raises LoginThrottled after too many failures.

    A known, an unknown and an inactive email cost the same: one failure counted, one hash checked.
    """
    email = normalise_email(email)[:254]
    remote_addr = (remote_addr or "inconnue")[:64]
    _reserve_attempt(email, remote_addr)
    user = db.session.scalar(select(User).where(User.email == email))
    password_hash = user.password_hash if user is not None else dummy_password_hash()
    if not check_password_hash(password_hash, password) or user is None or not user.active:
        return None
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == email, LoginFailure.remote_addr == remote_addr))
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
        select(User)
        .join(user_departments, user_departments.c.user_id == User.id)
        .where(user_departments.c.department_code == department_code, User.role == "animateur", User.active.is_(True))
        .order_by(User.id)
        .limit(1)
    )


def validate_password(password: str) -> None:
    if len(password or "") < 10:
        raise AccountError("Le mot de passe doit comporter au moins 10 caractères.")


def save_user(
    user: User | None,
    *,
    email: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    department_codes: list[str] | None = None,
    password: str | None = None,
    active: bool = True,
    origin: str | None = None,
) -> User:
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
        end_all_sessions(user)
        revoke_api_tokens(user, commit=False)
    elif before.get("active") and not active:
        # Everything that let the account in ends, and stays ended after a reactivation: its sessions,
        # its API tokens and its calendar feed's URL.
        end_all_sessions(user)
        revoke_api_tokens(user, commit=False)
        user.feed_version = (user.feed_version or 0) + 1
    record_change(
        entity_type="user",
        entity_id=user.id,
        action="create" if creating else "update",
        changes=changes,
        event_type="user.created" if creating else "user.updated",
        payload={"user_id": user.id, "role": user.role, "departments": sorted(user.department_codes)},
        origin=origin,
    )
    db.session.commit()
    return user


def _snapshot(user: User) -> dict:
    return {
        "email": user.email,
        "role": user.role,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "active": user.active,
        "departments": sorted(user.department_codes),
    }


def verify_current_password(user: User, password: str, remote_addr: str) -> None:
    """The signed-in user's password, asked again before a change a borrowed session must not make (a new
    password, a new API token): counted and throttled like a login, so it cannot be guessed either."""
    remote_addr = (remote_addr or "inconnue")[:64]
    _reserve_attempt(user.email, remote_addr)
    if not check_password_hash(user.password_hash, password or ""):
        raise AccountError("Le mot de passe actuel est incorrect.")
    db.session.execute(
        delete(LoginFailure).where(LoginFailure.email == user.email, LoginFailure.remote_addr == remote_addr)
    )


def change_own_password(user: User, current_password: str, new_password: str, remote_addr: str) -> None:
    """A user's new password, given their current one; ends their sessions and revokes their API tokens."""
    verify_current_password(user, current_password, remote_addr)
    validate_password(new_password)
    user.set_password(new_password)
    end_all_sessions(user)
    revoke_api_tokens(user, commit=False)
    record_change(
        entity_type="user",
        entity_id=user.id,
        action="update",
        changes={"password": ["***", "***"]},
        event_type="user.updated",
        payload={"user_id": user.id, "role": user.role, "departments": sorted(user.department_codes)},
    )
    db.session.commit()


def create_api_token(user: User, days: int | None = None, origin: str | None = None) -> str:
    """Issue a personal API token valid ``days`` (API_TOKEN_DAYS by default); the clear value is
    returned once, only its hash is kept."""
    days = current_app.config["API_TOKEN_DAYS"] if days is None else days
    if not 1 <= days <= MAX_API_TOKEN_DAYS:
        raise AccountError(f"La durée d'un jeton va de 1 à {MAX_API_TOKEN_DAYS} jours.")
    token_row, token = ApiToken.issue(user, days)
    db.session.add(token_row)
    db.session.flush()
    record_change(
        entity_type="user",
        entity_id=user.id,
        action="token",
        changes={"token": [None, token_row.prefix]},
        event_type="api_token.created",
        payload={"user_id": user.id, "token_id": token_row.id},
        origin=origin,
    )
    db.session.commit()
    return token


MAX_API_TOKEN_DAYS = 3 * 365


def api_tokens(user: User) -> list[ApiToken]:
    """A user's tokens, the newest first, revoked and expired ones included (their history)."""
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def revoke_api_tokens(
    user: User, token_id: int | None = None, *, commit: bool = True, origin: str | None = None
) -> int:
    """Revoke one of the user's tokens (``token_id``) or all of them; the number revoked.

    A token of another user is not found: 0.
    """
    query = update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    revoked = db.session.execute(query.values(revoked_at=utcnow()).returning(ApiToken.id, ApiToken.prefix)).all()
    if revoked:
        record_change(
            entity_type="user",
            entity_id=user.id,
            action="token",
            changes={"revoked": [None, sorted(row.prefix for row in revoked)]},
            event_type="api_token.revoked",
            payload={"user_id": user.id, "token_ids": sorted(row.id for row in revoked)},
            origin=origin,
        )
    if commit:
        db.session.commit()
    return len(revoked)


@cache
def _token_query():
    """Every API call runs this query: the token's user and the user's departments (the permission
    checks read them) in one round trip, one row per department, as plain columns; built once."""
    users, departments, tokens = User.__table__, Department.__table__, ApiToken.__table__
    return (
        select(
            users,
            *(column.label("department_" + column.key) for column in departments.c),
            tokens.c.id.label("token_id"),
            tokens.c.last_used_at.label("token_last_used_at"),
        )
        .select_from(tokens)
        .join(users, users.c.id == tokens.c.user_id)
        .outerjoin(user_departments, user_departments.c.user_id == users.c.id)
        .outerjoin(departments, departments.c.code == user_departments.c.department_code)
        .where(
            tokens.c.token_hash == bindparam("token_hash"),
            tokens.c.revoked_at.is_(None),
            tokens.c.expires_at > bindparam("now"),
        )
        .order_by(departments.c.code)
    )


# The last use of a token is written at most this often: not one write per API call.
TOKEN_LAST_USE_PRECISION = timedelta(minutes=1)


def _note_token_use(token_id: int, last_used_at, now) -> None:
    if last_used_at is not None:
        if last_used_at.tzinfo is None:  # SQLite gives it back naive (in UTC)
            last_used_at = last_used_at.replace(tzinfo=now.tzinfo)
        if now - last_used_at < TOKEN_LAST_USE_PRECISION:
            return
    db.session.commit()  # SQLite: a write must open its transaction, not follow the token's read
    db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    db.session.commit()


def user_for_token(token: str) -> User | None:
    """The active user owning this unrevoked, unexpired token, with its departments loaded.

    Read with Core and handed back as ORM objects (``attach_loaded``): building them from an
    eager-joined ORM query took as much CPU as the rest of an API call's authentication.
    """
    now = utcnow()
    rows = db.session.connection().execute(_token_query(), {"token_hash": ApiToken.hash(token), "now": now}).all()
    if not rows or not rows[0].active:
        return None
    _note_token_use(rows[0].token_id, rows[0].token_last_used_at, now)
    departments = [
        attach_loaded(
            Department, {column.key: row._mapping["department_" + column.key] for column in Department.__table__.c}
        )
        for row in rows
        if row.department_code is not None
    ]
    return attach_loaded(
        User, {column.key: rows[0]._mapping[column] for column in User.__table__.c}, departments=departments
    )
