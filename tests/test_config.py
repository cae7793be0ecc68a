"""Configuration rules: secrets from the environment, secure cookies outside development."""

import pytest

from crm.platform.config import ConfigError, load_config, normalise_database_url


def test_production_requires_a_secret_key(monkeypatch):
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        load_config()


def test_production_cookies_are_secure(monkeypatch):
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    config = load_config()
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert config["SESSION_COOKIE_HTTPONLY"] and config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SECRET_KEY"] == "x" * 40


def test_development_generates_and_keeps_a_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_ENV", "development")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("CRM_INSTANCE_DIR", str(tmp_path))
    first = load_config()["SECRET_KEY"]
    assert len(first) == 64 and load_config()["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert not load_config()["SESSION_COOKIE_SECURE"]


def test_plain_postgresql_urls_use_psycopg3():
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x") == "sqlite:///x"


def test_smtp_settings(monkeypatch):
    for name in ("SMTP_HOST", "SMTP_PORT", "SMTP_STARTTLS", "SMTP_SSL", "MAIL_FROM_NAME"):
        monkeypatch.delenv(name, raising=False)
    config = load_config()
    assert config["SMTP_HOST"] == "" and config["SMTP_PORT"] == 25  # no host: messages are kept, not sent
    assert config["MAIL_FROM_NAME"] == config["CRM_ORGANISATION_NAME"]
    monkeypatch.setenv("SMTP_STARTTLS", "1")
    assert load_config()["SMTP_PORT"] == 587
    monkeypatch.setenv("SMTP_SSL", "true")
    with pytest.raises(ConfigError):
        load_config()
    monkeypatch.delenv("SMTP_STARTTLS")
    monkeypatch.setenv("SMTP_PORT", "2525")
    assert load_config()["SMTP_PORT"] == 2525 and load_config()["SMTP_SSL"]
