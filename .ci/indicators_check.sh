#!/usr/bin/env bash
# `crm indicators check` on the demo data, through the real migrations, seed and CLI, on PostgreSQL:
# the stored indicators must equal a full recomputation (exit status 1 on any difference).
set -euo pipefail
cd "$(dirname "$0")/.."
DB="${INDICATORS_CHECK_DB:-test_indicators_check}"
.venv/bin/python - "$DB" <<'PY'
import sys

import psycopg

with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{sys.argv[1]}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{sys.argv[1]}"')
PY
export DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/$DB" CRM_ENV=development
export SECRET_KEY="ci-indicators-check" CRM_INSTANCE_DIR="$(mktemp -d)"
unset REDIS_URL
flask() { .venv/bin/flask --app wsgi "$@"; }
flask db upgrade
flask crm load-reference
flask crm seed --scale demo > /dev/null
flask crm indicators check --process-pending
