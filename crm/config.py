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

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("CRM_INSTANCE_DIR", BASE_DIR / "instance"))


class ConfigError(RuntimeError):
    """Raised when a required setting is missing."""


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _development_secret_key() -> str:
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def normalise_database_url(url: str) -> str:
    """Make plain ``postgresql://`` URLs use psycopg 3, the driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_config(overrides: dict | None = None) -> dict:
    """Build the Flask configuration mapping from the environment."""
    env = os.environ.get("CRM_ENV", "development")
    development = env in {"development", "test"}
    secret = os.environ.get("SECRET_KEY")
    if not secret:
        if not development:
            raise ConfigError("SECRET_KEY must be set outside development (CRM_ENV=%s)" % env)
        secret = _development_secret_key()
    database_url = normalise_database_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'maillage.sqlite3'}")
    )
    config = {
        "CRM_ENV": env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        # Region the instance serves: decides the default department list.
        "CRM_REGION_CODE": os.environ.get("CRM_REGION_CODE", "76"),
        "CRM_ORGANISATION_NAME": os.environ.get("CRM_ORGANISATION_NAME", "e-santé Occitanie"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _env_bool("SESSION_COOKIE_SECURE", not development),
        "REMEMBER_COOKIE_SECURE": _env_bool("SESSION_COOKIE_SECURE", not development),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": int(os.environ.get("CRM_MAX_UPLOAD_MB", "200")) * 1024 * 1024,
        # Login throttling: failures allowed per email / per client address in the window.
        "LOGIN_MAX_FAILURES_PER_EMAIL": int(os.environ.get("LOGIN_MAX_FAILURES_PER_EMAIL", "5")),
        "LOGIN_MAX_FAILURES_PER_IP": int(os.environ.get("LOGIN_MAX_FAILURES_PER_IP", "20")),
        "LOGIN_THROTTLE_WINDOW_MINUTES": int(os.environ.get("LOGIN_THROTTLE_WINDOW_MINUTES", "15")),
        "UPLOAD_DIR": str(INSTANCE_DIR / "uploads"),
        # Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
        "CRM_PROXY_COUNT": int(os.environ.get("CRM_PROXY_COUNT", "0")),
        "RQ_QUEUES": ["imports", "default"],
    }
    if overrides:
        config.update(overrides)
    return config
