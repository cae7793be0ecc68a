"""In a real browser: the FINESS import page offers "Relancer" by itself when its worker dies, and a
refused import is confirmed with the checkbox and the button."""

import io

from sqlalchemy import select

from crm.platform.extensions import db
from crm.structures.models import ImportRun
from tests.conftest import PASSWORD, login, post, run_worker_burst
from tests.structures.test_import_job import _file_bytes, _ImportHeld
from tests.workflows.workers import wait_until, workers  # noqa: F401  (fixture)


def _log_in(page, live_server, user):
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Adresse e-mail").fill(user.email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda url: "/connexion" not in url)


def test_the_page_offers_relancer_once_the_worker_died(
    page, live_server, client, make_user, tmp_path, test_env, redis_conn, workers
):
    admin = make_user("admin")
    login(client, admin)
    _log_in(page, live_server, admin)  # before the import holds SQLite's write lock: a login writes
    held = _ImportHeld()
    held.before_start()
    try:
        post(
            client,
            "/admin/imports",
            {"file": (io.BytesIO(_file_bytes(tmp_path, 3000)), "f.csv")},
            content_type="multipart/form-data",
        )
        run = db.session.scalars(select(ImportRun)).one()
        worker = workers.start("importer", queues=("imports",))

        def status():
            db.session.commit()
            return db.session.get(ImportRun, run.id).status

        wait_until(lambda: status() == "en_cours", 60, "the worker did not claim the run", interval=0.05)
        held.once_claimed()
        page.goto(f"{live_server}/admin/imports/{run.id}")
        assert page.get_by_text("En cours", exact=True).is_visible()
        assert page.get_by_role("button", name="Relancer l'import").count() == 0
        worker.kill()
    finally:
        held.release()

    # Nobody reloads: the page's polling notices the missing heartbeat and shows the button.
    page.get_by_role("button", name="Relancer l'import").wait_for(timeout=60000)
    assert page.get_by_text("ne répond plus").is_visible()
    page.get_by_role("button", name="Relancer l'import").click()
    page.get_by_text("Import relancé.").wait_for()
    run_worker_burst(test_env, queues=("imports",))
    page.get_by_text("Terminé", exact=True).wait_for(timeout=30000)
    assert page.get_by_text("Bilan").is_visible()


def test_a_refused_import_is_confirmed_with_the_checkbox(
    page, width, live_server, make_user, tmp_path, test_env, redis_conn
):
    """The admin's main journey, at 1280 and 768 px (``width``)."""
    from crm.seed.finess_file import generate_establishments, write_establishments
    from crm.structures.finess import import_finess

    admin = make_user("admin")
    establishments = generate_establishments(["31"], 20, seed=8)
    import_finess(write_establishments(tmp_path / "full.csv", establishments))
    partial = write_establishments(tmp_path / "partiel.csv", establishments[:5])
    _log_in(page, live_server, admin)
    page.goto(f"{live_server}/admin/imports")
    page.get_by_label("Fichier FINESS").set_input_files(str(partial))
    page.get_by_role("button", name="Lancer l'import").click()
    page.get_by_text("Import lancé.").wait_for()
    run_worker_burst(test_env, queues=("imports",))
    page.get_by_text("Refusé : fermetures à confirmer").first.wait_for(timeout=30000)
    assert page.get_by_text("15 sur 20 ouvertes").is_visible()

    checkbox = page.get_by_label("Je confirme la fermeture de ces structures")
    assert checkbox.get_attribute("required") is not None  # and the server checks it too
    page.get_by_label("Je confirme la fermeture de ces structures").check()
    page.get_by_role("button", name="Confirmer et importer").click()
    page.get_by_text("Fermetures confirmées : import lancé.").wait_for()
    run_worker_burst(test_env, queues=("imports",))
    page.get_by_text("Terminé", exact=True).wait_for(timeout=30000)
    db.session.commit()
    run = db.session.scalars(select(ImportRun)).one()
    assert run.status == "terminé" and run.summary["closed"] == 15
