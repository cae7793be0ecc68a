"""What the product shows from the outside, as one JSON document, to compare two revisions.

    python bin/behaviour_fingerprint.py --out before.json          # on one revision
    python bin/behaviour_fingerprint.py --out after.json           # on another
    python bin/behaviour_fingerprint.py --compare before.json after.json

A refactor that claims "no behaviour change" runs it on both sides: the OpenAPI document, the route
map (rule, methods, endpoint) and the demo data's indicator figures — every indicator of the API for
the last three years, by department, programme and month, the activity report and the dashboard's
figures — must be identical. The figures are read through the JSON API and the dashboard's JSON, as a
client would, on a fresh SQLite database seeded with the demo data (deterministic for a given day)
and processed by the outbox consumers, so both revisions see the same world. ``--compare`` prints
the paths that differ and exits 1 if any does.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

INDICATORS = ("transformation-rate", "information-participation", "engagement")
GROUPINGS = ("", "department", "programme", "month")


def fingerprint() -> dict:
    folder = Path(tempfile.mkdtemp(prefix="maillage-fingerprint-"))
    os.environ.update(
        {
            "CRM_ENV": "development",
            "SECRET_KEY": "fingerprint-" + secrets.token_hex(8),
            "CRM_INSTANCE_DIR": str(folder),
            "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        }
    )
    os.environ.pop("REDIS_URL", None)  # nothing is enqueued: the outbox is processed here

    from flask_migrate import upgrade

    from crm import create_app

    app = create_app()
    with app.app_context():
        from crm.accounts.models import User
        from crm.accounts.services import create_api_token
        from crm.cli import crm_cli  # noqa: F401  (the seed and the outbox commands, as the CLI runs them)
        from crm.referential.services import load_reference_data
        from crm.seed import run_seed

        db = app.extensions["sqlalchemy"]  # the same on every revision, wherever the extension lives
        upgrade()
        load_reference_data()
        run_seed("demo", echo=lambda _line: None)
        runner = app.test_cli_runner()
        result = runner.invoke(args=["crm", "outbox", "process"])
        assert result.exit_code == 0, result.output
        manager = db.session.scalar(db.select(User).where(User.role == "manager").order_by(User.id))
        token = create_api_token(manager)
        db.session.remove()

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    found: dict = {
        "routes": sorted(
            f"{rule.rule} {sorted(rule.methods - {'HEAD', 'OPTIONS'})} {rule.endpoint}"
            for rule in app.url_map.iter_rules()
        ),
        "openapi": client.get("/api/v1/openapi.json").get_json(),
    }
    this_year = date.today().year
    for year in (this_year - 2, this_year - 1, this_year):
        period = f"start={year}-01-01&end={year}-12-31"
        for name in INDICATORS:
            for group_by in GROUPINGS:
                query = period + (f"&group_by={group_by}" if group_by else "")
                response = client.get(f"/api/v1/indicators/{name}?{query}", headers=headers)
                body = response.get_json()
                if isinstance(body, dict):
                    body.pop("freshness", None)
                found[f"{name}?{query}"] = [response.status_code, body]
        response = client.get(f"/api/v1/indicators/report?{period}", headers=headers)
        body = response.get_json()
        if isinstance(body, dict):
            body.pop("freshness", None)
        found[f"report?{period}"] = [response.status_code, body]
    return found


def differences(before, after, path: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            if key not in before or key not in after:
                out.append(f"{path}/{key}: {'absent avant' if key not in before else 'absent après'}")
            else:
                out += differences(before[key], after[key], f"{path}/{key}")
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d
            for index, (a, b) in enumerate(zip(before, after, strict=True))
            for d in differences(a, b, f"{path}[{index}]")
        ]
    return [] if before == after else [f"{path}: {json.dumps(before)[:120]} → {json.dumps(after)[:120]}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="write the fingerprint of this working tree there")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        before, after = (json.loads(Path(name).read_text(encoding="utf-8")) for name in args.compare)
        found = differences(before, after)
        for line in found[:200]:
            print(line)
        print(f"{len(found)} différence(s)." if found else "Identiques : API, routes et indicateurs de la démo.")
        sys.exit(1 if found else 0)
    if not args.out:
        parser.error("--out FILE or --compare BEFORE AFTER")
    data = fingerprint()
    Path(args.out).write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    print(f"{args.out} : {len(data['routes'])} routes, {len(data) - 2} lectures d'indicateurs.")


if __name__ == "__main__":
    main()
