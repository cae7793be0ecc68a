"""The admin uploads a FINESS file; a real RQ worker imports it; the page shows the summary."""

import io
import os

from sqlalchemy import func, select

from crm.platform.extensions import db
from crm.seed.finess_file import write_finess_file
from crm.structures.models import ImportRun, Structure
from tests.conftest import login, post, run_worker_burst
from tests.workflows.workers import workers  # noqa: F401  (fixture)


def _file_bytes(tmp_path, count=40, **kwargs):
    path = write_finess_file(tmp_path / "finess.csv", ["31", "81"], count, seed=7, **kwargs)
    return path.read_bytes()


def test_upload_runs_in_a_worker_and_reports(client, make_user, tmp_path, test_env, redis_conn):
    login(client, make_user("admin"))
    content = _file_bytes(tmp_path, extra_lines=["structureet;123;mauvaise;ligne"])
    response = post(
        client,
        "/admin/imports",
        {"file": (io.BytesIO(content), "etalab_cs1100507.csv"), "all_regions": ""},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    run = db.session.scalars(select(ImportRun)).one()
    assert run.status == "en_attente" and run.job_id
    page = client.get(f"/admin/imports/{run.id}").get_data(as_text=True)
    assert "<progress" in page

    run_worker_burst(test_env, queues=("imports",))

    db.session.expire_all()
    run = db.session.get(ImportRun, run.id)
    assert run.status == "terminé", run.error
    assert run.summary["created"] == 40
    assert run.summary["rejected"] and run.summary["rejected"][0]["line"] > 1
    assert db.session.scalar(select(func.count()).select_from(Structure)) == 40
    state = client.get(f"/admin/imports/{run.id}/etat").json
    assert state["status"] == "terminé" and state["summary"]["created"] == 40
    html = client.get(f"/admin/imports/{run.id}").get_data(as_text=True)
    assert "Lignes rejetées" in html and "Créées" in html
    assert "etalab_cs1100507.csv" in client.get("/admin/imports").get_data(as_text=True)


def test_bad_file_fails_cleanly(client, make_user, test_env, redis_conn):
    login(client, make_user("admin"))
    response = post(
        client,
        "/admin/imports",
        {"file": (io.BytesIO(b"nom;prenom\nx;y\n"), "autre.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    run_worker_burst(test_env, queues=("imports",))
    db.session.expire_all()
    run = db.session.scalars(select(ImportRun)).one()
    assert run.status == "échoué" and run.error
    assert db.session.scalar(select(func.count()).select_from(Structure)) == 0
    from markupsafe import escape

    assert str(escape(run.error)) in client.get(f"/admin/imports/{run.id}").get_data(as_text=True)


def test_upload_form_validation(client, make_user):
    login(client, make_user("admin"))
    response = post(client, "/admin/imports", {}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choisissez un fichier." in response.get_data(as_text=True)
    response = post(
        client, "/admin/imports", {"file": (io.BytesIO(b"x"), "finess.exe")}, content_type="multipart/form-data"
    )
    assert response.status_code == 422 and ".csv" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ImportRun)) == 0


def test_redis_down_keeps_the_run_pending(app, client, make_user, tmp_path):
    login(client, make_user("admin"))
    original = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        response = post(
            client,
            "/admin/imports",
            {"file": (io.BytesIO(_file_bytes(tmp_path, 5)), "f.csv")},
            content_type="multipart/form-data",
            follow_redirects=True,
        )
    finally:
        app.config["REDIS_URL"] = original
    assert response.status_code == 200
    assert "momentanément indisponible" in response.get_data(as_text=True)
    run = db.session.scalars(select(ImportRun)).one()
    assert run.status == "en_attente" and run.job_id is None
    assert post(client, f"/admin/imports/{run.id}/relancer").status_code == 302
    db.session.expire_all()
    assert db.session.get(ImportRun, run.id).job_id is not None


def test_a_queued_run_cannot_be_launched_twice(client, make_user, tmp_path, test_env, redis_conn):
    login(client, make_user("admin"))
    post(
        client,
        "/admin/imports",
        {"file": (io.BytesIO(_file_bytes(tmp_path, 5)), "f.csv")},
        content_type="multipart/form-data",
    )
    run = db.session.scalars(select(ImportRun)).one()
    response = post(client, f"/admin/imports/{run.id}/relancer", follow_redirects=True)
    assert "ne peut pas être relancé" in response.get_data(as_text=True)
    from rq import Queue

    assert Queue("imports", connection=redis_conn).count == 1
    # Even two jobs for one run import once: the second finds the run already claimed.
    from crm.platform.queue import enqueue

    enqueue("imports", "workflows.jobs.run_finess_import", run.id)
    run_worker_burst(test_env, queues=("imports",))
    db.session.expire_all()
    assert db.session.get(ImportRun, run.id).summary["created"] == 5
    from crm.platform.models import AuditEntry

    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "create", AuditEntry.entity_type == "structure")
        )
        == 5
    )


def test_a_run_whose_worker_died_can_be_relaunched(client, make_user, tmp_path, test_env, redis_conn):
    login(client, make_user("admin"))
    post(
        client,
        "/admin/imports",
        {"file": (io.BytesIO(_file_bytes(tmp_path, 5)), "f.csv")},
        content_type="multipart/form-data",
    )
    run = db.session.scalars(select(ImportRun)).one()
    # The worker took the run and died: the job is gone from Redis, the run stays "en cours".
    run.status = "en_cours"
    db.session.commit()
    redis_conn.flushdb()
    assert "Relancer l" in client.get(f"/admin/imports/{run.id}").get_data(as_text=True)
    assert post(client, f"/admin/imports/{run.id}/relancer").status_code == 302
    run_worker_burst(test_env, queues=("imports",))
    db.session.expire_all()
    assert db.session.get(ImportRun, run.id).status == "terminé"


def _upload(client, content: bytes, name="f.csv"):
    return post(client, "/admin/imports", {"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def test_an_upload_closing_too_many_shows_a_preview_and_waits_for_confirmation(
    app, client, make_user, tmp_path, test_env, redis_conn
):
    from crm.pipeline import services as pipeline
    from crm.referential.models import Offer
    from crm.seed.finess_file import generate_establishments, write_establishments
    from crm.structures.finess import import_finess

    admin = make_user("admin")
    establishments = generate_establishments(["31"], 20, seed=3)
    import_finess(write_establishments(tmp_path / "full.csv", establishments))
    live = db.session.scalars(select(Structure).where(Structure.finess_et == establishments[-1]["nofinesset"])).one()
    offer = db.session.scalars(select(Offer).where(Offer.code == "VT_GRAND_AGE")).one()
    pipeline.create_project(
        {"structure_id": live.id, "offer_id": offer.id, "title": "Télésurveillance", "started_on": "2026-11-02"},
        user=admin,
    )
    states = dict(db.session.execute(select(Structure.id, Structure.is_open)).all())
    partial = write_establishments(tmp_path / "partiel.csv", establishments[:4]).read_bytes()
    login(client, admin)

    assert _upload(client, partial, "partiel.csv").status_code == 302
    run_worker_burst(test_env, queues=("imports",))

    db.session.expire_all()
    run = db.session.scalars(select(ImportRun)).one()
    assert run.status == "refusé" and "rien n'a été enregistré" in run.error
    assert (run.summary["closures_refused"], run.summary["open_in_scope"], run.summary["unchanged"]) == (16, 20, 4)
    assert dict(db.session.execute(select(Structure.id, Structure.is_open)).all()) == states
    assert os.path.exists(run.stored_path)  # kept for the confirmation
    page = client.get(f"/admin/imports/{run.id}").get_data(as_text=True)
    assert "Refusé : fermetures à confirmer" in page and "Aperçu" in page
    assert "16 sur 20 ouvertes" in page and "1 des structures à fermer a un projet actif" in page
    assert page.index(live.finess_et) < page.index(establishments[4]["nofinesset"])  # flagged first
    assert "Confirmer et importer" in page
    assert client.get(f"/admin/imports/{run.id}/etat").json["status"] == "refusé"

    # No checkbox, no confirmation; no CSRF token, no confirmation; an animateur cannot confirm.
    response = post(client, f"/admin/imports/{run.id}/confirmer", {}, follow_redirects=True)
    assert "Cochez la case pour confirmer les fermetures." in response.get_data(as_text=True)
    assert client.post(f"/admin/imports/{run.id}/confirmer", data={"confirm": "y"}).status_code == 400
    other = app.test_client()
    login(other, make_user("animateur"))
    assert post(other, f"/admin/imports/{run.id}/confirmer", {"confirm": "y"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(ImportRun, run.id).status == "refusé"
    from rq import Queue

    assert Queue("imports", connection=redis_conn).count == 0

    response = post(client, f"/admin/imports/{run.id}/confirmer", {"confirm": "y"}, follow_redirects=True)
    assert "Fermetures confirmées : import lancé." in response.get_data(as_text=True)
    assert "Aperçu" not in response.get_data(as_text=True) and "Bilan" not in response.get_data(as_text=True)
    again = post(client, f"/admin/imports/{run.id}/confirmer", {"confirm": "y"}, follow_redirects=True)
    assert "attend plus de confirmation" in again.get_data(as_text=True)
    assert Queue("imports", connection=redis_conn).count == 1
    run_worker_burst(test_env, queues=("imports",))

    db.session.expire_all()
    run = db.session.get(ImportRun, run.id)
    assert run.status == "terminé" and run.confirmed_closures == 16 and run.error is None
    assert run.summary["closed"] == 16 and "closures_refused" not in run.summary
    assert not os.path.exists(run.stored_path)
    assert db.session.scalar(select(func.count()).where(Structure.is_open.is_(False))) == 16
    from crm.platform.models import AuditEntry

    confirmation = db.session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "import_run")).one()
    assert confirmation.user_id == admin.id and confirmation.action == "confirm"
    assert confirmation.changes == {"confirmed_closures": [None, 16]}


def test_a_confirmation_does_not_cover_more_closures_than_previewed(client, make_user, tmp_path, test_env, redis_conn):
    from crm.seed.finess_file import generate_establishments, write_establishments
    from crm.structures.finess import import_finess

    establishments = generate_establishments(["31"], 20, seed=4)
    import_finess(write_establishments(tmp_path / "full.csv", establishments))
    login(client, make_user("admin"))
    _upload(client, write_establishments(tmp_path / "p.csv", establishments[:10] + establishments[12:]).read_bytes())
    run_worker_burst(test_env, queues=("imports",))
    run = db.session.scalars(select(ImportRun)).one()
    assert run.summary["closures_refused"] == 2
    # Meanwhile a full import brought 20 more structures the uploaded file does not list either.
    import_finess(
        write_establishments(tmp_path / "more.csv", establishments + generate_establishments(["31"], 20, seed=5))
    )

    post(client, f"/admin/imports/{run.id}/confirmer", {"confirm": "y"})
    run_worker_burst(test_env, queues=("imports",))

    db.session.expire_all()
    run = db.session.get(ImportRun, run.id)
    assert run.status == "refusé" and run.summary["closures_refused"] == 22 and run.confirmed_closures == 2
    assert db.session.scalar(select(func.count()).where(Structure.is_open.is_(False))) == 0


def test_an_upload_under_the_threshold_goes_straight_through(client, make_user, tmp_path, test_env, redis_conn):
    from crm.seed.finess_file import generate_establishments, write_establishments
    from crm.structures.finess import import_finess

    establishments = generate_establishments(["31"], 20, seed=6)
    import_finess(write_establishments(tmp_path / "full.csv", establishments))
    login(client, make_user("admin"))
    _upload(client, write_establishments(tmp_path / "p.csv", establishments[1:]).read_bytes())
    run_worker_burst(test_env, queues=("imports",))
    run = db.session.scalars(select(ImportRun)).one()
    assert run.status == "terminé" and run.summary["closed"] == 1 and run.confirmed_closures is None


class _ImportHeld:
    """Keeps a running import from writing, so that a kill lands inside it for sure.

    PostgreSQL: the import's advisory lock, taken before the upload. SQLite: the database's write
    lock, taken once the run is claimed; the import waits for it on its first write (busy timeout).
    """

    def __init__(self):
        self.connection = None

    def before_start(self):
        from sqlalchemy import text

        from crm.structures.finess import ADVISORY_LOCK_KEY

        if db.engine.dialect.name == "postgresql":
            self.connection = db.engine.connect()
            self.connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})

    def once_claimed(self):
        if db.engine.dialect.name == "sqlite":
            import sqlite3

            self.connection = sqlite3.connect(db.engine.url.database, isolation_level=None, timeout=30)
            self.connection.execute("BEGIN IMMEDIATE")

    def release(self):
        from sqlalchemy import text

        from crm.structures.finess import ADVISORY_LOCK_KEY

        if self.connection is None:
            return
        if db.engine.dialect.name == "postgresql":
            self.connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            self.connection.commit()
        else:
            self.connection.execute("ROLLBACK")
        self.connection.close()
        self.connection = None


def test_a_worker_killed_mid_import_can_be_relaunched_within_a_minute(
    client, make_user, tmp_path, test_env, redis_conn, workers
):
    import time

    from rq.job import Job

    from crm.platform.models import AuditEntry
    from crm.structures.imports import HEARTBEAT_SECONDS, HEARTBEAT_TTL, _heartbeat_key
    from tests.workflows.workers import wait_until

    assert HEARTBEAT_TTL < 60 and HEARTBEAT_SECONDS < HEARTBEAT_TTL
    login(client, make_user("admin"))
    held = _ImportHeld()
    held.before_start()
    try:
        _upload(client, _file_bytes(tmp_path, 3000))
        run = db.session.scalars(select(ImportRun)).one()
        worker = workers.start("importer", queues=("imports",))

        def status():
            db.session.commit()  # a fresh transaction: the worker commits in its own process
            return db.session.get(ImportRun, run.id).status

        wait_until(lambda: status() == "en_cours", 60, "the worker did not claim the run", interval=0.05)
        held.once_claimed()
        assert status() == "en_cours"  # the import is inside its transaction, nothing committed
        key = _heartbeat_key(run.id)
        first_beat = redis_conn.get(key)
        assert first_beat and 0 < redis_conn.ttl(key) <= HEARTBEAT_TTL

        # Alive: no "Relancer", however long the import takes; the heartbeat goes on.
        assert "Relancer l" not in client.get(f"/admin/imports/{run.id}").get_data(as_text=True)
        state = client.get(f"/admin/imports/{run.id}/etat").json
        assert state["alive"] is True and state["can_relaunch"] is False
        wait_until(lambda: redis_conn.get(key) != first_beat, HEARTBEAT_SECONDS + 10, "no second heartbeat")

        worker.kill()  # SIGKILL: the worker, its work horse and its scheduler
        killed_at = time.monotonic()
    finally:
        held.release()

    wait_until(
        lambda: client.get(f"/admin/imports/{run.id}/etat").json["can_relaunch"],
        60,
        "no 'Relancer' within a minute of the worker's death",
        interval=1,
    )
    assert time.monotonic() - killed_at <= HEARTBEAT_TTL + 5
    # RQ itself still believes the job runs: it would take minutes to notice.
    assert Job.fetch(run.job_id, connection=redis_conn).get_status(refresh=True).value == "started"
    page = client.get(f"/admin/imports/{run.id}").get_data(as_text=True)
    assert "Relancer l" in page and "ne répond plus" in page
    assert status() == "en_cours" and db.session.scalar(select(func.count()).select_from(Structure)) == 0

    response = post(client, f"/admin/imports/{run.id}/relancer", follow_redirects=True)
    assert "Import relancé." in response.get_data(as_text=True)
    # A second click finds the run queued again: nothing enqueued twice.
    response = post(client, f"/admin/imports/{run.id}/relancer", follow_redirects=True)
    assert "ne peut pas être relancé" in response.get_data(as_text=True)
    burst = run_worker_burst(test_env, queues=("imports",))

    db.session.expire_all()
    run = db.session.get(ImportRun, run.id)
    assert run.status == "terminé" and run.summary["created"] == 3000, burst.stdout + burst.stderr
    assert db.session.scalar(select(func.count()).select_from(Structure)) == 3000
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == "structure"))
        == 3000
    )


def test_a_cli_run_whose_process_died_says_so_without_relaunch(client, make_user, redis_conn):
    run = ImportRun(filename="finess.csv", origin="cli", status="en_cours")
    db.session.add(run)
    db.session.commit()
    login(client, make_user("admin"))
    from crm.structures.imports import heartbeat

    with heartbeat(run.id):
        page = client.get(f"/admin/imports/{run.id}").get_data(as_text=True)
        assert "ne répond plus" not in page and client.get(f"/admin/imports/{run.id}/etat").json["alive"] is True
    redis_conn.flushdb()  # the key expired: the command was killed

    page = client.get(f"/admin/imports/{run.id}").get_data(as_text=True)
    assert "ne répond plus" in page and "Relancez la commande" in page and "Relancer l" not in page
    assert post(client, f"/admin/imports/{run.id}/relancer").status_code == 302
    db.session.expire_all()
    assert db.session.get(ImportRun, run.id).status == "en_cours"  # no file to run again
