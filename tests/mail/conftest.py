"""A real SMTP server (aiosmtpd) on a free port, and helpers to write messages and run the mail worker."""

from __future__ import annotations

import email
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller

from crm.mail.services import queue_email
from crm.platform.extensions import db
from tests.conftest import run_worker_burst


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    """Keeps every message received; refuses the recipients listed in ``refused`` with a 550."""

    def __init__(self):
        self.received: list[dict] = []
        self.refused: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 Utilisateur inconnu"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "message": email.message_from_bytes(envelope.content, policy=policy.default),
            }
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, port: int):
        self.port = port
        self.handler = RecordingHandler()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[dict]:
        return self.handler.received


@pytest.fixture
def smtp_settings(monkeypatch):
    """Point the worker processes at 127.0.0.1:<free port>; the server is not started yet."""
    port = free_port()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("MAIL_FROM", "animation@esante-occitanie.fr")
    monkeypatch.setenv("MAIL_FROM_NAME", "e-santé Occitanie")
    server = SmtpServer(port)
    yield server
    server.stop()


@pytest.fixture
def smtp_server(smtp_settings):
    smtp_settings.start()
    return smtp_settings


@pytest.fixture
def no_smtp(monkeypatch):
    monkeypatch.delenv("SMTP_HOST", raising=False)


@pytest.fixture
def make_message():
    counter = {"n": 0}

    def factory(**values):
        counter["n"] += 1
        data = {
            "kind": "test.message",
            "to_address": f"participant{counter['n']}@chu-toulouse.fr",
            "to_name": "Élodie Martínez",
            "subject": "Votre inscription à la journée TOP e-santé",
            "body_text": "Bonjour,\n\nVotre inscription est confirmée. À bientôt à Montauban !",
        }
        data.update(values)
        message = queue_email(**data)
        db.session.commit()
        return message

    return factory


def run_mail_worker(test_env):
    return run_worker_burst(test_env, queues=("mail",))
