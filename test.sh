#!/usr/bin/env bash
# One command: set up and run the whole test suite (ruff, SQLite, PostgreSQL, Chromium browser tests).
source "$(dirname "$0")/scripts/env.sh"
ensure_venv requirements-dev.txt

# Browser tests drive Debian's Chromium; the CJK font renders Chinese in screenshots and PDFs.
ensure_apt chromium fonts-wqy-zenhei

PY=.venv/bin/python
echo "==> ruff"
.venv/bin/ruff check .
echo "==> 迁移文件与模型一致"
TONGBAN_VAR_DIR="$(mktemp -d)" $PY manage.py makemigrations --check --dry-run >/dev/null \
  || { echo "模型有改动但缺少迁移文件：python manage.py makemigrations"; exit 1; }

echo "==> 测试（SQLite）"
.venv/bin/pytest -q "$@"

PG_URL="${TONGBAN_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "==> 启动 PostgreSQL"
  for v in $(ls /etc/postgresql 2>/dev/null); do pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true; done
  for _ in $(seq 1 20); do pg_up && break; sleep 0.5; done
fi
if pg_up; then
  echo "==> 测试（PostgreSQL ${PG_URL}）"
  DATABASE_URL="$PG_URL" .venv/bin/pytest -q "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL 不可用（127.0.0.1:5432）：CI 中必须在 PostgreSQL 上运行测试" >&2
  exit 1
else
  echo "！！！ 跳过 PostgreSQL 测试：127.0.0.1:5432 无法连接（CI=true 时此项为必需）"
fi
