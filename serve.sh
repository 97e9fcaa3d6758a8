#!/usr/bin/env bash
# One command: set up, migrate, load demo data from real public sources, serve Tongban on 127.0.0.1.
source "$(dirname "$0")/scripts/env.sh"
ensure_venv requirements.txt

HOST="${TONGBAN_HOST:-127.0.0.1}"
PORT="${TONGBAN_PORT:-8000}"
PY=.venv/bin/python

echo "==> 数据库迁移"
$PY manage.py migrate --noinput -v0
echo "==> 载入行政区划、节假日与演示数据（可重复运行）"
$PY manage.py load_demo
$PY manage.py collectstatic --noinput -v0

cat <<MSG

================================================================
 通办 Tongban 已启动（演示环境，数据库：${DATABASE_URL:-SQLite var/tongban.sqlite3}）
   跨域通办专区（办事人）：  http://$HOST:$PORT/
   长者模式：              http://$HOST:$PORT/prefs/elder/on/
   工作人员登录：          http://$HOST:$PORT/staff/login/
   管理后台：              http://$HOST:$PORT/admin/
   接口文档（OpenAPI）：    http://$HOST:$PORT/api/v1/docs
 演示账号见上表；动态口令在登录页“演示账号”框中显示（仅演示环境）。
 按 Ctrl+C 停止。
================================================================

MSG
exec .venv/bin/gunicorn tongban.wsgi:application --bind "$HOST:$PORT" --workers "${TONGBAN_WORKERS:-3}" \
  --access-logfile - --error-logfile - --timeout 60
