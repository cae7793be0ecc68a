"""`make run` as an operator uses it: stopped by SIGTERM, served on another port, icon and instance folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from crm.platform.config import load_config
from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> set[int]:
    """Every descendant process of pid, from /proc (no extra dependency)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads the process tree from /proc")
def test_sigterm_stops_the_worker_and_the_embedded_redis(tmp_path):
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        {
            "CRM_ENV": "development",
            "CRM_INSTANCE_DIR": str(tmp_path / "instance"),
            "PORT": str(port),
            "SECRET_KEY": "devserver-test",
            "PYTHONPATH": str(ROOT),
        }
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "crm.devserver"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, server.stdout.read().decode(errors="replace")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/favicon.ico", timeout=2) as response:
                    assert response.status == 200 and response.read(4) == b"\0\0\1\0"
                break
            except OSError:
                assert time.monotonic() < deadline, "the development server did not answer"
                time.sleep(0.5)
        # The worker and the redis-server are up by now (the redis server before the migrations).
        deadline = time.monotonic() + 30
        while len(children := _children(server.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(children) >= 2, "expected the rq worker and the embedded redis-server"
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in children if _alive(pid)], "SIGTERM left processes running"
        # The demo seed wrote its logins into the instance folder it was given.
        assert (tmp_path / "instance" / "demo_logins.txt").exists()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        for pid in _children(server.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_email_links_follow_the_port_served(monkeypatch):
    monkeypatch.delenv("CRM_BASE_URL", raising=False)
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.setenv("PORT", "8123")
    assert load_config()["CRM_BASE_URL"] == "http://localhost:8123"
    monkeypatch.setenv("CRM_BASE_URL", "https://crm.example.fr")
    assert load_config()["CRM_BASE_URL"] == "https://crm.example.fr"


def test_the_tests_never_write_into_the_repository(app):
    instance = Path(app.instance_path).resolve()
    assert instance == Path(os.environ["CRM_INSTANCE_DIR"]).resolve()
    assert ROOT.resolve() not in instance.parents
    assert ROOT.resolve() not in Path(app.config["UPLOAD_DIR"]).resolve().parents


def test_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/vnd.microsoft.icon"
