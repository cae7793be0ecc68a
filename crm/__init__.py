"""Maillage: the territorial animation CRM of a regional e-health agency."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from crm.config import BASE_DIR, INSTANCE_DIR, load_config
from crm.extensions import csrf, db, login_manager, migrate


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Foreign keys are off by default in SQLite; WAL lets the worker write while the web app reads.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


event.listen(Engine, "connect", _sqlite_pragmas)


def create_app(overrides: dict | None = None) -> Flask:
    """Application factory: configuration, extensions, blueprints, CLI."""
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
        instance_path=str(INSTANCE_DIR),
    )
    app.config.update(load_config(overrides))

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Connectez-vous pour accéder à cette page."
    login_manager.session_protection = "strong"

    from crm import models  # noqa: F401  (registers every table on the metadata)
    from crm.core.security import register as register_security

    register_security(app)  # before the blueprints: it installs the bounded <int:> converter
    from crm.accounts.routes import bp as accounts_bp
    from crm.api.routes import bp as api_bp
    from crm.admin.routes import bp as admin_bp
    from crm.core.routes import bp as core_bp
    from crm.referential.routes import bp as referential_bp
    from crm.structures.routes import bp as structures_bp

    for blueprint in (core_bp, accounts_bp, structures_bp, referential_bp, admin_bp, api_bp):
        app.register_blueprint(blueprint)

    from crm.core import errors, formatting
    from crm.cli import register as register_cli

    errors.register(app)
    formatting.register(app)
    register_cli(app)
    return app
