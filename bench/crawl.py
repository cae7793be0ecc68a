"""Every GET page and API list of the app, as its usual role, with real ids and typical filters.

    python bench/crawl.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_pages]
                          [--scale national|region|demo] [--reuse] [--requests 15] [--warmup 3]
                          [--department 31] [--only SUBSTRING] [--explain]

The database is the one of ``bench/pages.py`` by default: unless ``--reuse`` finds the scale's seed
there, it is dropped, recreated and seeded (``run_seed(scale)``, national: 101,686 structures,
2,000,000 activities, 200,000 opportunities). Then every rule of ``app.url_map`` that answers GET is
requested through the Flask test client (the whole app, its SQL included, without a network hop):

- as its usual role: the animator of ``--department`` for the daily pages and the API, the organiser
  for the events' back office, the manager for the dashboards, the admin for the admin pages, nobody
  for the public pages and feeds; the API with a bearer token of that role;
- with real ids (the department's busiest structure, its latest activity, opportunity, project and
  task, the published event with the most registrations, a real personal link made for the run...);
- in the variants people use: each list unfiltered, filtered by department and by type or programme,
  its last page (the highest ``page=`` link the first page offers; for a list whose count is bounded,
  the deepest page number it serves) and, for a list paged by cursor, the page its "next" link opens.

Each variant is requested ``--warmup`` times, then ``--requests`` times measured. The Markdown table
lists p50 / p95 / max, the response's size and its number of SQL statements, slowest p95 first, with
the target each page is held to (< 100 ms for the animator's daily pages, < 150 ms for every other).
A rule no variant could be built for is listed at the end with the reason. Not a test: nothing fails
on a timing.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pages import QueryLog, percentile, recreate_database, seed_national, seeded  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_pages"
PASSWORD = "bench-" + secrets.token_urlsafe(12)
ROLES = ("animateur", "organisateur", "manager", "admin")
MIN_STRUCTURES = {"national": 90_000, "region": 5_000, "demo": 300}

# The animator's daily pages are held to 100 ms (issue "every page fast at national scale").
DAILY = {"activities.index", "structures.show", "pipeline.board", "tasks.mine"}

# Whose page is it: the first prefix that matches names the role; public pages are requested anonymously.
PUBLIC = {
    "accounts.login",
    "core.health",
    "core.favicon",
    "api.openapi",
    "calendar.public_feed",
    "calendar.event_download",
    "calendar.personal_feed",
    "public_events.show",
    "public_events.confirmation",
    "public_events.cancel",
    "public_events.structures",
    "survey_public.answer",
    "static",
}
ROLE_OF_PREFIX = [
    ("admin.", "admin"),
    ("mail.", "admin"),
    ("outbox.", "admin"),
    ("referential.", "admin"),
    ("workflow_rules.", "admin"),
    ("accounts.", "admin"),
    ("events.", "organisateur"),
    ("event_followup.", "organisateur"),
    ("event_matching.", "organisateur"),
    ("api.list_events", "organisateur"),
    ("api.get_event", "organisateur"),
    ("api.event_ics", "organisateur"),
    ("api.list_registrations", "organisateur"),
    ("indicators.manager", "manager"),
    ("indicators.detail", "manager"),
    ("indicators.export", "manager"),
    ("indicators.figures_json", "manager"),
    ("api.engagement", "manager"),
    ("api.report", "manager"),
    ("api.information_participation", "manager"),
    ("api.transformation_rate", "manager"),
]

# Typical query strings per endpoint (the unfiltered page is always measured first).
VARIANTS = {
    "activities.index": [
        "departement={dep}",
        "type=visite&departement={dep}",
        "programme={programme}&departement={dep}",
        "LAST",
        "NEXT",
    ],
    "pipeline.opportunities": ["departement={dep}", "LAST", "NEXT"],
    "pipeline.board": ["departement={dep}", "departement={dep}&programme={programme}"],
    "pipeline.projects": ["departement={dep}", "LAST"],
    "structures.index": ["q=ehpad", "departement={dep}", "departement={dep}&q=centre hospitalier", "LAST"],
    "structures.autocomplete": ["ONLY:q=ehpad saint"],
    "public_events.structures": ["ONLY:q=ehpad"],
    "events.index": ["statut=publie", "LAST"],
    "events.checkin_search": ["ONLY:q=ma"],
    "indicators.manager": ["departement={dep}", "periode=annee&programme={programme}"],
    "indicators.animator": [],
    "indicators.detail": ["departement={dep}"],
    "indicators.figures_json": ["departement={dep}"],
    "api.list_activities": ["department={dep}&per_page=200", "LAST", "NEXT"],
    "api.list_opportunities": ["department={dep}&per_page=200", "LAST", "NEXT"],
    "api.list_structures": ["department={dep}&per_page=200", "q=ehpad"],
    "api.list_projects": ["department={dep}"],
    "api.list_tasks": [],
    "api.transformation_rate": ["group_by=department", "department={dep}&group_by=programme"],
    "api.information_participation": ["group_by=department"],
    "api.engagement": ["group_by=department"],
    "api.report": ["department={dep}"],
    "indicators.services_view": ["offre=MSSANTE", "offre=DMP", "offre=SPICO_DOSSIERS"],
    "indicators.service_targets": [
        "offre=MSSANTE&departement={dep}",
        "offre=MSSANTE&departement={dep}&tri=visite",
        "offre=MSSANTE&departement={dep}&tri=partenaires",
        "offre=SPICO_DOSSIERS&tri=partenaires",
    ],
    "api.deployment_indicators": ["offer=MSSANTE", "department={dep}"],
    "networks.mesh": ["offre={spico}&departement={dep}"],
    "networks.referents": ["departement={dep}", "offre={spico}"],
    "api.mesh": ["ONLY:offer={spico}", "ONLY:offer={spico}&department={dep}", "ONLY:offer={spico}&page=20"],
    "api.list_referents": ["department={dep}", "page=10"],
    "mail.index": ["LAST"],
    "outbox.index": [],
}


@dataclass
class Result:
    endpoint: str
    path: str
    role: str
    statuses: set = field(default_factory=set)
    timings: list = field(default_factory=list)
    size: int = 0
    statements: int = 0

    @property
    def target(self) -> int:
        return 100 if self.endpoint in DAILY else 150


def role_of(endpoint: str) -> str | None:
    if endpoint in PUBLIC:
        return None
    for prefix, role in ROLE_OF_PREFIX:
        if endpoint.startswith(prefix):
            return role
    return "animateur"


def scalar(db, sql: str, **params):
    from sqlalchemy import text

    return db.session.execute(text(sql), params).scalar()


def real_ids(db, department: str) -> dict:
    """One real value per URL argument, chosen where the pages have the most to show."""
    from sqlalchemy import text

    from crm.events.registration.links import hash_token

    dep = department
    ids = {
        "structure_id": scalar(
            db,
            """
            SELECT s.id FROM structures s JOIN activity_structures a ON a.structure_id = s.id
            WHERE s.department_code = :dep GROUP BY s.id ORDER BY count(*) DESC LIMIT 1""",
            dep=dep,
        ),
        "activity_id": scalar(
            db,
            """
            SELECT a.id FROM activities a JOIN activity_structures l ON l.activity_id = a.id
            JOIN structures s ON s.id = l.structure_id WHERE s.department_code = :dep
            ORDER BY a.occurred_on DESC, a.id DESC LIMIT 1""",
            dep=dep,
        ),
        "opportunity_id": scalar(db, "SELECT max(id) FROM opportunities WHERE department_code = :dep", dep=dep),
        "project_id": scalar(db, "SELECT max(id) FROM projects WHERE department_code = :dep", dep=dep),
        "task_id": scalar(db, "SELECT max(id) FROM tasks"),
        "event_id": scalar(
            db,
            """
            SELECT e.id FROM events e LEFT JOIN registrations r ON r.event_id = e.id
            WHERE e.status IN ('publie', 'clos') GROUP BY e.id ORDER BY count(r.id) DESC, e.id LIMIT 1""",
        ),
        "series_id": scalar(db, "SELECT min(id) FROM event_series"),
        "message_id": scalar(db, "SELECT max(id) FROM email_messages"),
        "run_id": scalar(db, "SELECT max(id) FROM import_runs"),
        "programme": scalar(db, "SELECT min(id) FROM programmes"),
        "spico": scalar(db, "SELECT id FROM offers WHERE code = 'SPICO_DOSSIERS'"),
    }
    ids["slug"] = scalar(db, "SELECT slug FROM events WHERE id = :id", id=ids["event_id"])
    ids["contact_id"], ids["contact_structure_id"] = db.session.execute(
        text(
            "SELECT c.id, c.structure_id FROM contacts c JOIN structures s ON s.id = c.structure_id "
            "WHERE s.department_code = :dep ORDER BY c.id LIMIT 1"
        ),
        {"dep": dep},
    ).first() or (None, None)
    # Personal links: only their hashes are stored, so the run gives one registration and one
    # survey invitation a token of its own (a bench database, nobody's real link).
    registration = scalar(
        db,
        "SELECT id FROM registrations WHERE event_id = :id AND status = 'inscrit' ORDER BY id LIMIT 1",
        id=ids["event_id"],
    )
    if registration:
        ids["cancel_token"] = secrets.token_urlsafe(24)
        db.session.execute(
            text("UPDATE registrations SET cancel_token_hash = :h WHERE id = :id"),
            {"h": hash_token(ids["cancel_token"]), "id": registration},
        )
    invitation = scalar(db, "SELECT min(id) FROM survey_invitations")
    if invitation:
        ids["survey_token"] = secrets.token_urlsafe(24)
        db.session.execute(
            text("UPDATE survey_invitations SET token_hash = :h WHERE id = :id"),
            {"h": hash_token(ids["survey_token"]), "id": invitation},
        )
    db.session.commit()
    return ids


def paths_for(rule, ids: dict, users: dict, department: str) -> tuple[list[str], str | None]:
    """The concrete paths of a rule (its variants), or no path and the reason."""
    from flask import url_for

    from crm.events.feeds import feed_token
    from crm.indicators import exports

    endpoint, args = rule.endpoint, set(rule.arguments)
    values: dict = {}
    choices: list[dict] = [{}]
    for arg in sorted(args):
        if arg == "token":
            token = {
                "public_events.cancel": ids.get("cancel_token"),
                "survey_public.answer": ids.get("survey_token"),
                "calendar.personal_feed": feed_token(users["animateur"]),
            }.get(endpoint)
            if not token:
                return [], "aucun lien personnel dans la base"
            values["token"] = token
        elif arg == "structure_id" and "contact_id" in args:
            values["structure_id"], values["contact_id"] = ids["contact_structure_id"], ids["contact_id"]
        elif arg == "contact_id":
            values.setdefault("contact_id", ids["contact_id"])
        elif arg == "user_id":
            values["user_id"] = users["animateur"].id
        elif arg == "index":
            values["index"] = 0
        elif arg == "filename":
            values["filename"] = "css/app.css"
        elif arg == "rule_name":
            from workflows.registry import all_rules

            values["rule_name"] = all_rules()[0].name
        elif arg == "indicator":
            choices = [{"indicator": name} for name in ("participation", "transformation", "engagement")]
        elif arg == "name" and endpoint == "indicators.export":
            choices = [{"name": name, "fmt": "csv"} for name in exports.TABLES] + [
                {"name": "participation", "fmt": "xlsx"}
            ]
        elif arg == "name":
            values["name"] = "programmes"
        elif arg == "key":
            values["key"] = ids["programme"]
        elif arg == "fmt":
            if endpoint != "indicators.export":
                choices = [{"fmt": "csv"}, {"fmt": "xlsx"}]
        elif arg in ids and ids[arg] is not None:
            values[arg] = ids[arg]
        else:
            return [], f"pas de valeur réelle pour <{arg}>"
    bases = [url_for(endpoint, **values, **choice) for choice in choices]
    queries = [
        q.format(dep=department, programme=ids["programme"], spico=ids["spico"]) for q in VARIANTS.get(endpoint, [])
    ]
    if any(q.startswith("ONLY:") for q in queries):
        return [f"{base}?{q[5:]}" for base in bases for q in queries], None
    return [f"{base}?{q}" if q else base for base in bases for q in [""] + queries], None


def last_page(client, path: str, headers: dict) -> str | None:
    """The deepest numbered page a list serves: its last page when its total is exact, else the page
    at the offset limit (crm/platform/paging.py MAX_OFFSET), which is the costliest number it takes."""
    from crm.platform.paging import MAX_OFFSET

    response = client.get(path, headers=headers)
    separator = "&" if "?" in path else "?"
    if response.is_json:
        body = response.get_json(silent=True) or {}
        meta = body.get("meta") or {}
        if meta.get("total_capped"):
            return f"{path}{separator}page={MAX_OFFSET // meta['per_page'] + 1}"
        pages = meta.get("pages") or 1
        return f"{path}{separator}page={pages}" if pages > 1 else None
    page = response.get_data(as_text=True)
    if re.search(r"Plus de [\d\s\u202f\u00a0]+", page):  # a bounded count: the deepest number served
        per_page = max(1, page.count("<tr>") - 1)
        return f"{path}{separator}page={MAX_OFFSET // per_page + 1}"
    found = re.search(r"Page\s+\d+\s+sur\s+([\d\s\u202f\u00a0]+)", page)  # the pager: "Page 1 sur 40 001"
    pages = [int(re.sub(r"\D", "", found.group(1)))] if found else []
    pages += [int(n) for n in re.findall(r"[?&;]page=(\d+)", page)]
    if not pages or max(pages) <= 1:
        return None
    return f"{path}{separator}page={max(pages)}"


def next_page(client, path: str, headers: dict) -> str | None:
    """The page after the first by its cursor (links.next, or the pager's rel="next" link)."""
    import html

    response = client.get(path, headers=headers)
    if response.is_json:
        return ((response.get_json(silent=True) or {}).get("links") or {}).get("next")
    found = re.search(r'href="([^"]*apres=[^"]*)"[^>]*rel="next"', response.get_data(as_text=True))
    return html.unescape(found.group(1)) if found else None


def login(client, email: str) -> None:
    page = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post("/connexion", data={"email": email, "password": PASSWORD, "csrf_token": token})
    if response.status_code != 302:
        sys.exit(f"Connexion impossible pour {email} ({response.status_code}).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--scale", choices=tuple(MIN_STRUCTURES), default="national")
    parser.add_argument("--reuse", action="store_true", help="keep the database if it already holds the seed")
    parser.add_argument("--requests", type=int, default=15, help="measured requests per variant")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--department", default="31")
    parser.add_argument("--only", help="only the rules whose endpoint or path contains this")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE of the slowest pages' slowest SQL")
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    url = make_url(args.database_url)
    os.environ.update(
        {
            "CRM_ENV": "development",
            "SECRET_KEY": "bench-" + secrets.token_hex(16),
            "DATABASE_URL": args.database_url,
            "LOGIN_MAX_FAILURES_PER_IP": "100000",
        }
    )
    os.environ.setdefault("CRM_INSTANCE_DIR", tempfile.mkdtemp(prefix="maillage-bench-"))
    reuse = args.reuse and seeded(url, MIN_STRUCTURES[args.scale], 1_900_000 if args.scale == "national" else 0)
    if not reuse:
        recreate_database(url)

    from sqlalchemy import select

    from crm import create_app
    from crm.accounts.models import User
    from crm.accounts.services import create_api_token, save_user
    from crm.platform.extensions import db

    app = create_app()
    with app.app_context():
        if reuse:
            print("Base réutilisée : seed non relancé.")
        else:
            seed_national(db, url.database, scale=args.scale)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        users, tokens = {}, {}
        for role in ROLES:
            email = f"bench.crawl.{role}@example.org"
            user = db.session.scalar(select(User).where(User.email == email))
            users[role] = save_user(
                user,
                email=email,
                role=role,
                first_name="Bench",
                last_name=role.title(),
                department_codes=[args.department] if role == "animateur" else [],
                password=PASSWORD,
                origin="bench",
            )
            db.session.commit()
            tokens[role] = create_api_token(users[role])
            db.session.commit()
        ids = real_ids(db, args.department)
        counts = {
            table: scalar(db, f"SELECT count(*) FROM {table}")
            for table in ("structures", "activities", "opportunities", "events", "registrations")
        }
        print("Base : " + ", ".join(f"{n:,} {table}".replace(",", " ") for table, n in counts.items()))

        emails = {role: users[role].email for role in ROLES}
        plans, skipped = [], []
        with app.test_request_context():
            for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
                if "GET" not in rule.methods:
                    continue
                if args.only and args.only not in rule.endpoint and args.only not in rule.rule:
                    continue
                paths, reason = paths_for(rule, ids, users, args.department)
                if not paths:
                    skipped.append((rule.endpoint, rule.rule, reason))
                for path in paths:
                    plans.append((rule.endpoint, path, role_of(rule.endpoint)))
        db.session.remove()

    # Outside any app context: each request runs in its own, as in production (the logged-in user
    # is kept on ``g``, which an enclosing context would share between clients).
    clients = {None: app.test_client()}
    for role in ROLES:
        clients[role] = app.test_client()
        login(clients[role], emails[role])
    results = []
    log = None
    with app.app_context():
        log = QueryLog(db.engine)
    started_at, load_before = time.perf_counter(), os.getloadavg()
    for endpoint, path, role in plans:
        client = clients[role if not endpoint.startswith("api.") else None]
        headers = {"Authorization": f"Bearer {tokens[role]}"} if endpoint.startswith("api.") and role else {}
        if path.endswith("?LAST"):
            path = last_page(client, path[:-5], headers)
            if path is None:  # a single page
                continue
        elif path.endswith("?NEXT"):
            path = next_page(client, path[:-5], headers)
            if path is None:  # a single page, or a list without cursor
                continue
        result = Result(endpoint, path, role or "public")
        for index in range(args.warmup + args.requests):
            measured = index >= args.warmup
            if index == args.warmup:
                log.entries, log.active = [], True
            begun = time.perf_counter()
            response = client.get(path, headers=headers)
            elapsed = (time.perf_counter() - begun) * 1000
            if index == args.warmup:
                log.active = False
                result.statements = len(log.entries)
                result.size = len(response.get_data())
            result.statuses.add(response.status_code)
            if measured:
                result.timings.append(elapsed)
        results.append(result)
        print(f"  {result.role:12} {path[:90]:90} p95 {percentile(result.timings, 0.95):8.1f} ms", flush=True)

    results.sort(key=lambda r: -percentile(r.timings, 0.95))
    print(
        f"\n## Toutes les pages GET ({len(results)} variantes de {len({r.endpoint for r in results})} routes, "
        f"{args.requests} requêtes mesurées après {args.warmup} de chauffe ; "
        f"{time.perf_counter() - started_at:.0f} s ; charge de la machine {load_before[0]:.2f} avant, "
        f"{os.getloadavg()[0]:.2f} après)\n"
    )
    print("| page | rôle | statut | p50 (ms) | p95 (ms) | max (ms) | octets | SQL | objectif p95 |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        p95 = percentile(r.timings, 0.95)
        verdict = "atteint" if p95 < r.target else "**NON atteint**"
        print(
            f"| `{r.path[:110]}` | {r.role} | {'/'.join(map(str, sorted(r.statuses)))} "
            f"| {statistics.median(r.timings):.1f} | {p95:.1f} | {max(r.timings):.1f} | {r.size:,} "
            f"| {r.statements} | < {r.target} ms : {verdict} |".replace(",", " ")
        )
    over = [r for r in results if percentile(r.timings, 0.95) >= r.target]
    errors = [r for r in results if any(s >= 500 for s in r.statuses)]
    print(
        f"\n{len(results) - len(over)} variantes sur {len(results)} sous leur objectif ; "
        f"{len(errors)} avec une erreur 5xx."
    )
    if skipped:
        print("\nRoutes non mesurées :\n")
        for endpoint, rule, reason in skipped:
            print(f"- `{rule}` ({endpoint}) : {reason}")
    if args.explain and over:
        from pages import profile

        with app.app_context():
            for r in [r for r in over if not r.endpoint.startswith("api.")][:5]:
                client = clients[r.role if r.role != "public" and not r.endpoint.startswith("api.") else None]
                profile(client, db, log, r.endpoint, r.path, True)


if __name__ == "__main__":
    main()
