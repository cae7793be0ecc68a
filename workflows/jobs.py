"""RQ jobs. Each runs inside the app context of its worker process."""
from __future__ import annotations

from rq import get_current_job

from workflows.app import app_context


def run_finess_import(import_run_id: int) -> dict:
    """Import an uploaded FINESS file, reporting progress in the job's meta for the progress bar."""
    from crm.structures.imports import execute_import_run

    job = get_current_job()

    def progress(done: int, total: int) -> None:
        if job is not None:
            job.meta["progress"] = {"done": done, "total": total}
            job.save_meta()

    with app_context():
        return execute_import_run(import_run_id, progress=progress)
