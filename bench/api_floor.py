"""The floor under ``POST /api/v1/activities``: a bare Flask route doing the same SQL with psycopg.

    python bench/api_activities.py --app bench.api_floor:app

Not the product: no Flask-SQLAlchemy, no ORM, no Flask-Login, no security hooks, no OpenAPI
shape check, no French messages, only the happy path's validation. It runs the statements
the real endpoint runs (token lookup with the user's departments, the structures with their
sector, the offers, the activity, its links, the audit entry and the outbox event in one
statement, the task of a next step with its own audit entry and event, one transaction), so
the benchmark run against it shows what the framework layers cost on top of the database work.
"""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, date, datetime

import psycopg
from flask import Flask, jsonify, request
from psycopg.types.json import Json
from sqlalchemy.engine import make_url

app = Flask(__name__)
_local = threading.local()

USER = """SELECT u.id, u.role, array_remove(array_agg(d.department_code), NULL)
          FROM api_tokens t JOIN users u ON u.id = t.user_id
          LEFT JOIN user_departments d ON d.user_id = u.id
          WHERE t.token_hash = %s AND t.revoked_at IS NULL AND u.active GROUP BY u.id"""
STRUCTURES = """SELECT s.id, s.name, s.department_code, sec.code FROM structures s
                LEFT JOIN sectors sec ON sec.id = s.sector_id WHERE s.id = ANY(%s) ORDER BY s.name"""
OFFERS = "SELECT id, programme_id FROM offers WHERE id = ANY(%s)"
ACTIVITY = """INSERT INTO activities (kind, occurred_on, duration_minutes, author_id, subject, notes, is_information,
              next_step, next_step_due_on, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
              RETURNING id"""
TASK = """INSERT INTO tasks (title, owner_id, created_by_id, source, due_on, structure_id, activity_id, created_at)
          VALUES (%s, %s, %s, 'activite', %s, %s, %s, %s) RETURNING id"""
CHANGE = """WITH audit_entry AS (INSERT INTO audit_entries (at, user_id, entity_type, entity_id, action, changes)
                                 VALUES (%(at)s, %(user)s, %(type)s, %(id)s, 'create', %(changes)s))
            INSERT INTO outbox_events (type, aggregate_type, aggregate_id, payload, actor_id, created_at, attempts)
            VALUES (%(event)s, %(type)s, %(id)s, %(payload)s, %(user)s, %(at)s, 0)"""


def connection() -> psycopg.Connection:
    """One connection per gunicorn thread, kept for the run."""
    if getattr(_local, "conn", None) is None:
        url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql")
        _local.conn = psycopg.connect(url.render_as_string(hide_password=False))
    return _local.conn


def change(cur, user_id: int, entity: str, entity_id: int, event: str, changes: dict, payload: dict, at) -> None:
    cur.execute(
        CHANGE,
        {
            "at": at,
            "user": user_id,
            "type": entity,
            "id": entity_id,
            "changes": Json(changes),
            "event": event,
            "payload": Json(payload),
        },
    )


@app.post("/api/v1/activities")
def create_activity():
    token = request.headers.get("Authorization", "")[7:]
    body = request.get_json()
    conn = connection()
    with conn.transaction(), conn.cursor() as cur:
        user = cur.execute(USER, (hashlib.sha256(token.encode()).hexdigest(),)).fetchone()
        if user is None:
            return jsonify({"error": {"status": 401}}), 401
        user_id, _role, departments = user
        structures = cur.execute(STRUCTURES, (body["structure_ids"],)).fetchall()
        if len(structures) != len(body["structure_ids"]) or any(s[2] not in departments for s in structures):
            return jsonify({"error": {"status": 403}}), 403
        offers = cur.execute(OFFERS, (body.get("offer_ids") or [],)).fetchall() if body.get("offer_ids") else []
        now = datetime.now(UTC)
        occurred_on = date.fromisoformat(body["occurred_on"])
        due_on = date.fromisoformat(body["next_step_due_on"]) if body.get("next_step") else None
        activity_id = cur.execute(
            ACTIVITY,
            (
                body["kind"],
                occurred_on,
                body.get("duration_minutes"),
                user_id,
                body.get("subject"),
                body.get("notes"),
                bool(body.get("is_information")),
                body.get("next_step"),
                due_on,
                now,
                now,
            ),
        ).fetchone()[0]
        cur.executemany(
            "INSERT INTO activity_structures (activity_id, structure_id) VALUES (%s, %s)",
            [(activity_id, s[0]) for s in structures],
        )
        if offers:
            cur.executemany(
                "INSERT INTO activity_offers (activity_id, offer_id) VALUES (%s, %s)",
                [(activity_id, o[0]) for o in offers],
            )
        payload = {
            "activity_id": activity_id,
            "kind": body["kind"],
            "occurred_on": occurred_on.isoformat(),
            "is_information": bool(body.get("is_information")),
            "author_id": user_id,
            "structures": [{"structure_id": s[0], "department": s[2], "sector": s[3]} for s in structures],
            "programme_ids": sorted({o[1] for o in offers}),
            "offer_ids": sorted(o[0] for o in offers),
        }
        change(
            cur,
            user_id,
            "activity",
            activity_id,
            "activity.logged",
            {
                "kind": [None, body["kind"]],
                "occurred_on": [None, occurred_on.isoformat()],
                "structures": [None, [s[0] for s in structures]],
            },
            payload,
            now,
        )
        task_id = None
        if body.get("next_step"):
            task_id = cur.execute(
                TASK, (body["next_step"], user_id, user_id, due_on, structures[0][0], activity_id, now)
            ).fetchone()[0]
            change(
                cur,
                user_id,
                "task",
                task_id,
                "task.created",
                {"title": [None, body["next_step"]], "due_on": [None, due_on.isoformat()]},
                {
                    "task_id": task_id,
                    "owner_id": user_id,
                    "structure_id": structures[0][0],
                    "department": structures[0][2],
                    "due_on": due_on.isoformat(),
                    "source": "activite",
                    "opportunity_id": None,
                    "project_id": None,
                    "activity_id": activity_id,
                },
                now,
            )
    return jsonify(
        {
            "id": activity_id,
            "kind": body["kind"],
            "occurred_on": occurred_on.isoformat(),
            "structures": [{"id": s[0], "name": s[1], "department_code": s[2]} for s in structures],
            "offer_ids": payload["offer_ids"],
            "created_at": now.isoformat(),
            "task_id": task_id,
        }
    ), 201


@app.get("/api/v1/openapi.json")
def ready():
    """The benchmark waits for this URL to answer before it starts."""
    return jsonify({})
