"""Users, their roles and departments, API tokens, remember-me tokens, login failures."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from flask_login import UserMixin
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from crm.platform.extensions import db
from crm.platform.models import utcnow
from crm.referential.models import Department

ROLES = {
    "animateur": "Animateur territorial",
    "organisateur": "Organisateur d'événements",
    "manager": "Manager",
    "admin": "Administrateur",
}

user_departments = Table(
    "user_departments",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("department_code", ForeignKey("departments.code"), primary_key=True),
)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    first_name: Mapped[str] = mapped_column(String(80), default="")
    last_name: Mapped[str] = mapped_column(String(80), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Part of every session's user id: bumping it (logout, new password, deactivation) ends them all.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Part of the personal calendar feed's URL (crm/events/feeds.py): bumped when the account is
    # deactivated, so that a reactivation does not bring an old URL back.
    feed_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    departments: Mapped[list[Department]] = relationship(
        secondary=user_departments, lazy="selectin", order_by=Department.code
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    def get_id(self) -> str:
        """What a session stores: the id and the session version it was opened under (crm/accounts/sessions.py)."""
        return f"{self.id}:{self.session_version}"

    @property
    def display_name(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        return full or self.email

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)

    @property
    def department_codes(self) -> set[str]:
        return {d.code for d in self.departments}

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class ApiToken(db.Model):
    """A personal API token; only its SHA-256 is stored. Refused after ``expires_at`` or once revoked."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(lazy="joined")

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def status(self, now: datetime) -> str:
        """ "revoked", "expired" or "active"."""
        if self.revoked_at is not None:
            return "revoked"
        expires_at = self.expires_at if self.expires_at.tzinfo else self.expires_at.replace(tzinfo=UTC)
        return "expired" if expires_at <= now else "active"

    @classmethod
    def issue(cls, user: User, days: int) -> tuple[ApiToken, str]:
        token = "mlg_" + secrets.token_urlsafe(32)
        now = utcnow()
        return cls(
            user_id=user.id,
            token_hash=cls.hash(token),
            prefix=token[:10],
            created_at=now,
            expires_at=now + timedelta(days=days),
        ), token


class RememberToken(db.Model):
    """A "remember me" cookie of one browser: its random value changes at each use, only its SHA-256 is
    stored, and it ends ``expires_at`` after the login that issued it whatever the use."""

    __tablename__ = "remember_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginFailure(db.Model):
    """One failed login, kept for throttling (pruned after the window). Written before the password is
    checked, and deleted if it was right (crm/accounts/services.py: ``_reserve_attempt``)."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    remote_addr: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "at"),
        Index("ix_login_failures_addr_at", "remote_addr", "at"),
    )
