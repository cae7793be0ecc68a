"""The admin uploads a FINESS file; a real RQ worker imports it; the page shows the summary."""
import io

from sqlalchemy import func, select

from crm.extensions import db
from crm.seed.finess_file import write_finess_file
from crm.structures.models import ImportRun, Structure
from tests.conftest import login, post, run_worker_burst


def _file_bytes(tmp_path, count=40, **kwargs):
    path = write_finess_file(tmp_path / "finess.csv", ["31", "81"], count, seed=7, **kwargs)
    return path.read_bytes()


def test_upload_runs_in_a_worker_and_reports(client, make_user, tmp_path, test_env, redis_conn):
    login(client, make_user("admin"))
    content = _file_bytes(tmp_path, extra_lines=["structureet;123;mauvaise;ligne"])
    response = post(client, "/admin/imports", {"file": (io.BytesIO(content), "etalab_cs1100507.csv"),
                                               "all_regions": ""}, content_type="multipart/form-data")
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
    response = post(client, "/admin/imports", {"file": (io.BytesIO(b"nom;prenom\nx;y\n"), "autre.csv")},
                    content_type="multipart/form-data")
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
    response = post(client, "/admin/imports", {"file": (io.BytesIO(b"x"), "finess.exe")},
                    content_type="multipart/form-data")
    assert response.status_code == 422 and ".csv" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ImportRun)) == 0


def test_redis_down_keeps_the_run_pending(app, client, make_user, tmp_path):
    login(client, make_user("admin"))
    original = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        response = post(client, "/admin/imports", {"file": (io.BytesIO(_file_bytes(tmp_path, 5)), "f.csv")},
                        content_type="multipart/form-data", follow_redirects=True)
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
    post(client, "/admin/imports", {"file": (io.BytesIO(_file_bytes(tmp_path, 5)), "f.csv")},
         content_type="multipart/form-data")
    run = db.session.scalars(select(ImportRun)).one()
    response = post(client, f"/admin/imports/{run.id}/relancer", follow_redirects=True)
    assert "ne peut pas être relancé" in response.get_data(as_text=True)
    from rq import Queue

    assert Queue("imports", connection=redis_conn).count == 1
    # Even two jobs for one run import once: the second finds the run already claimed.
    from crm.queue import enqueue

    enqueue("imports", "workflows.jobs.run_finess_import", run.id)
    run_worker_burst(test_env, queues=("imports",))
    db.session.expire_all()
    assert db.session.get(ImportRun, run.id).summary["created"] == 5
    from crm.core.models import AuditEntry

    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "create", AuditEntry.entity_type == "structure")) == 5


def test_a_run_whose_worker_died_can_be_relaunched(client, make_user, tmp_path, test_env, redis_conn):
    login(client, make_user("admin"))
    post(client, "/admin/imports", {"file": (io.BytesIO(_file_bytes(tmp_path, 5)), "f.csv")},
         content_type="multipart/form-data")
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
