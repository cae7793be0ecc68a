"""``Idempotency-Key``: a client that retries a write (a timeout, a lost answer) gets the first answer back.

The rule, as the OpenAPI document states it:

* keys belong to the user of the token (two users may use the same key); one is kept ``KEEP`` long;
* the same key with the same method, path and JSON body: the first answer again, same status and body,
  with the header ``Idempotent-Replayed: true``; nothing is written;
* the same key with another method, path or body: 422, nothing is written;
* only a success is kept: a refused request (422, 403, 409...) leaves no key, and may be sent again;
* two requests with the same key at once write one record: the key's row is inserted first, in the
  write's own transaction, so the second waits on the unique index until the first commits, then
  answers the first's answer (on SQLite the database lock serialises them the same way).

The answer is stored in the transaction of the write it answers: a key never exists without its record.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

from flask import jsonify, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from crm.api.registry import ApiError, Param
from crm.platform.extensions import db
from crm.platform.models import IdempotencyKey, utcnow

HEADER = "Idempotency-Key"
KEEP = timedelta(hours=24)
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces: a UUID, a ULID, a hash...

PARAM = Param(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": 255},
    "Clé d'idempotence choisie par le client (un UUID par exemple) : une requête renvoyée avec la "
    "même clé et le même corps rend la première réponse sans rien réécrire ; la même clé avec un "
    "autre corps est refusée (422). Clés propres à chaque utilisateur, gardées 24 heures ; seule "
    "une réponse de succès est gardée.",
    location="header",
)


def _fingerprint(body: dict | None) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def _stored(user_id: int, key: str) -> IdempotencyKey | None:
    return db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key))


def _replay(row: IdempotencyKey, fingerprint: str):
    if row.fingerprint != fingerprint:
        message = "Cette clé d'idempotence a déjà servi pour une autre requête : choisissez-en une nouvelle."
        raise ApiError(422, message, {HEADER: message})
    response = jsonify(row.response)
    response.status_code = row.status
    response.headers["Idempotent-Replayed"] = "true"
    if row.status == 201 and isinstance(row.response, dict) and row.response.get("url"):
        response.headers["Location"] = row.response["url"]
    return response


def idempotent(user, body: dict | None, write):
    """Answer a write once per ``Idempotency-Key``. ``write()`` makes the change without committing and
    returns ``(payload, status)``; this commits it with the key (or without, when no key is sent)."""
    key = request.headers.get(HEADER)
    if key is None:
        payload, status = write()
        db.session.commit()
        return _answer(payload, status)
    if not KEY_RE.match(key):
        message = "Clé d'idempotence invalide : de 1 à 255 caractères ASCII visibles, sans espace."
        raise ApiError(400, message, {HEADER: message})
    fingerprint = _fingerprint(body)
    db.session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == user.id, IdempotencyKey.key == key, IdempotencyKey.created_at < utcnow() - KEEP
        )
    )
    row = _stored(user.id, key)
    if row is not None:
        db.session.rollback()
        return _replay(row, fingerprint)
    try:
        with db.session.begin_nested():
            # Taken before the write: a concurrent request with this key waits here for this transaction.
            db.session.add(
                IdempotencyKey(
                    user_id=user.id, key=key, fingerprint=fingerprint, status=0, response={}, created_at=utcnow()
                )
            )
    except IntegrityError:
        db.session.rollback()
        row = _stored(user.id, key)
        if row is None:  # the other request was refused meanwhile (its key went with it): this one may go
            return idempotent(user, body, write)
        return _replay(row, fingerprint)
    payload, status = write()
    db.session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user.id, IdempotencyKey.key == key)
        .values(status=status, response=payload)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return _answer(payload, status)


def _answer(payload: dict, status: int):
    response = jsonify(payload)
    response.status_code = status
    if status == 201 and payload.get("url"):
        response.headers["Location"] = payload["url"]
    return response
