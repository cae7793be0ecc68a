"""Configuration read from the environment, with development defaults.

Every setting has a documented default in README.md. Outside development
(``CRM_ENV`` other than ``development``/``test``) ``SECRET_KEY`` must come from
the environment; in development one is generated once and kept under
``instance/`` so that sessions survive restarts.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def instance_dir() -> Path:
    """The folder of uploads, the development secret and the SQLite database.

    Read from ``CRM_INSTANCE_DIR`` when asked, not when this module is imported: the tests set it
    after collecting modules that import the app, and must never write into the repository.
    """
    return Path(os.environ.get("CRM_INSTANCE_DIR") or BASE_DIR / "instance")


class ConfigError(RuntimeError):
    """Raised when a required setting is missing."""


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _development_secret_key() -> str:
    folder = instance_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _local_base_url() -> str:
    host = os.environ.get("HOST", "127.0.0.1")
    if host in {"0.0.0.0", "::", "127.0.0.1"}:
        host = "localhost"
    return f"http://{host}:{os.environ.get('PORT') or '5000'}"


def normalise_database_url(url: str) -> str:
    """Make plain ``postgresql://`` URLs use psycopg 3, the driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _mail_settings(organisation_name: str) -> dict:
    """SMTP settings. Without SMTP_HOST, messages are kept in the database (and logged), never dropped."""
    starttls, ssl = _env_bool("SMTP_STARTTLS", False), _env_bool("SMTP_SSL", False)
    if starttls and ssl:
        raise ConfigError(
            "SMTP_STARTTLS and SMTP_SSL are exclusive: STARTTLS upgrades a plain connection "
            "(port 587), SSL opens an encrypted one (port 465)"
        )
    host = os.environ.get("SMTP_HOST", "").strip()
    return {
        "SMTP_HOST": host,
        "SMTP_PORT": int(os.environ.get("SMTP_PORT") or (465 if ssl else 587 if starttls else 25)),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": starttls,
        "SMTP_SSL": ssl,
        "SMTP_TIMEOUT": int(os.environ.get("SMTP_TIMEOUT", "30")),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "ne-pas-repondre@localhost"),
        "MAIL_FROM_NAME": os.environ.get("MAIL_FROM_NAME", organisation_name),
    }


def load_config(overrides: dict | None = None) -> dict:
    """Build the Flask configuration mapping from the environment."""
    env = os.environ.get("CRM_ENV", "development")
    development = env in {"development", "test"}
    secret = os.environ.get("SECRET_KEY")
    if not secret:
        if not development:
            raise ConfigError(f"SECRET_KEY must be set outside development (CRM_ENV={env})")
        secret = _development_secret_key()
    database_url = normalise_database_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{instance_dir() / 'maillage.sqlite3'}")
    )
    config = {
        "CRM_ENV": env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        # No ping on every checkout (a round trip per request): crm/platform/pool.py pings a connection
        # only after it sat idle, and connections are replaced after half an hour whatever happens.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False, "pool_recycle": 1800},
        "CRM_DB_PING_AFTER_IDLE_SECONDS": float(os.environ.get("CRM_DB_PING_AFTER_IDLE_SECONDS", "10")),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        # Region the instance serves: decides the default department list.
        "CRM_REGION_CODE": os.environ.get("CRM_REGION_CODE", "76"),
        "CRM_ORGANISATION_NAME": os.environ.get("CRM_ORGANISATION_NAME", "e-santé Occitanie"),
        # Where users report an accessibility problem (the RGAA statement's contact); MAIL_FROM if unset.
        "CRM_ACCESSIBILITY_CONTACT": os.environ.get("CRM_ACCESSIBILITY_CONTACT", ""),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _env_bool("SESSION_COOKIE_SECURE", not development),
        "REMEMBER_COOKIE_SECURE": _env_bool("SESSION_COOKIE_SECURE", not development),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # Days a "remember me" cookie keeps a browser logged in after the login that set it (it rotates
        # at each use but its end does not move: one password entry at least every so many days).
        "REMEMBER_COOKIE_DAYS": int(os.environ.get("REMEMBER_COOKIE_DAYS", "30")),
        # Default lifetime of a new personal API token (``crm token create --days N`` overrides it).
        "API_TOKEN_DAYS": int(os.environ.get("API_TOKEN_DAYS", "365")),
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_I18N_ENABLED": False,  # WTForms' bundled French messages, see crm/platform/forms.py
        # Any request body, anonymous ones included; the admin's FINESS import alone takes up to
        # CRM_MAX_UPLOAD_MB (the national file is ~60 MB), see crm.platform.uploads.accepts_upload.
        "MAX_CONTENT_LENGTH": int(os.environ.get("CRM_MAX_BODY_KB", "2048")) * 1024,
        "CRM_MAX_UPLOAD_BYTES": int(os.environ.get("CRM_MAX_UPLOAD_MB", "200")) * 1024 * 1024,
        # Login throttling: failures allowed per (email, client address) / per client address in the window.
        "LOGIN_MAX_FAILURES_PER_EMAIL": int(os.environ.get("LOGIN_MAX_FAILURES_PER_EMAIL", "5")),
        "LOGIN_MAX_FAILURES_PER_IP": int(os.environ.get("LOGIN_MAX_FAILURES_PER_IP", "20")),
        "LOGIN_THROTTLE_WINDOW_MINUTES": int(os.environ.get("LOGIN_THROTTLE_WINDOW_MINUTES", "15")),
        # Months after an event before the personal data of registrants who are not contacts is anonymised.
        "REGISTRANT_RETENTION_MONTHS": int(os.environ.get("REGISTRANT_RETENTION_MONTHS", "24")),
        "UPLOAD_DIR": str(instance_dir() / "uploads"),
        # Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
        "CRM_PROXY_COUNT": int(os.environ.get("CRM_PROXY_COUNT", "0")),
        "RQ_QUEUES": ["outbox", "mail", "imports", "default"],
        # Seconds between two runs of the periodic sweep (RQ scheduler): missed outbox events, pending
        # emails, scheduled workflow rules. The worker reads it from the environment too.
        "OUTBOX_SWEEP_SECONDS": int(os.environ.get("OUTBOX_SWEEP_SECONDS", "15")),
        # Base of the links in emails (personal cancellation links) when no request gives it.
        # Without it, the address `make run` serves on (HOST and PORT, as crm/devserver.py reads them).
        "CRM_BASE_URL": os.environ.get("CRM_BASE_URL") or _local_base_url(),
        # Public registrations accepted per client address in the window (then a French 429 page).
        "EVENT_REGISTRATIONS_PER_IP": int(os.environ.get("EVENT_REGISTRATIONS_PER_IP", "20")),
        "EVENT_REGISTRATION_WINDOW_MINUTES": int(os.environ.get("EVENT_REGISTRATION_WINDOW_MINUTES", "10")),
        # Days after an event's first day during which an opportunity at a structure present at it counts
        # among what the event produced (crm/indicators/attribution.py).
        "ATTRIBUTION_DAYS": int(os.environ.get("ATTRIBUTION_DAYS", "90")),
    }
    config.update(_mail_settings(config["CRM_ORGANISATION_NAME"]))
    if overrides:
        config.update(overrides)
    return config
