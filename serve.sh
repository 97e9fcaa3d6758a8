#!/usr/bin/env bash
# One command: set up, migrate, load demo data from real public sources, serve Tongban on 127.0.0.1.
source "$(dirname "$0")/scripts/env.sh"
ensure_venv requirements.txt
ensure_apt fonts-wqy-zenhei  # the CJK font embedded in the notices (PDF)

HOST="${TONGBAN_HOST:-127.0.0.1}"
PORT="${TONGBAN_PORT:-8000}"
PY=.venv/bin/python

echo "==> 数据库迁移"
$PY manage.py migrate --noinput -v0
echo "==> 载入行政区划、节假日与演示数据（可重复运行）"
$PY manage.py load_demo
$PY manage.py collectstatic --noinput -v0

# Background work (deadline scan, overdue flags): one database-backed task worker beside the web server.
$PY manage.py schedule_deadline_scan
$PY manage.py schedule_inquiry_scan  # 咨询投诉建议超期督办（每小时）
$PY manage.py schedule_rectification_scan  # 差评整改逾期标记（每小时）
$PY manage.py schedule_figures_refresh  # 驾驶舱统计定期重算（每小时）
$PY manage.py certificate_trust_sync --schedule  # 对端节点可信发证机构名单同步（每小时）
$PY manage.py db_worker --no-reload >"${TONGBAN_VAR_DIR:-var}/worker.log" 2>&1 &
WORKER=$!
# The exchange relay delivers this node's outbox to peer nodes (none on the embedded default: hand-offs are local).
$PY manage.py exchange_relay >"${TONGBAN_VAR_DIR:-var}/relay.log" 2>&1 &
RELAY=$!
trap 'kill $WORKER $RELAY 2>/dev/null' EXIT INT TERM

cat <<MSG

================================================================
 通办 Tongban 已启动（演示环境，数据库：${DATABASE_URL:-SQLite var/tongban.sqlite3}）
   跨域通办专区（办事人）：  http://$HOST:$PORT/
   长者模式：              http://$HOST:$PORT/prefs/elder/on/
   工作人员登录：          http://$HOST:$PORT/staff/login/
   管理后台：              http://$HOST:$PORT/admin/
   接口文档（OpenAPI）：    http://$HOST:$PORT/api/v1/docs
   我的办件（申请人）：      http://$HOST:$PORT/my/
   工作人员工作台：        http://$HOST:$PORT/workbench/
   办件查询：              http://$HOST:$PORT/track/
   开发用短信收件箱：      http://$HOST:$PORT/dev/mailbox/   （申请人登录验证码在此查看，仅调试模式）
 后台任务：db_worker（日志 var/worker.log）；节点交换中继 exchange_relay（日志 var/relay.log）
   节点交换运维：          http://$HOST:$PORT/exchange/ops/   （平台管理员）
 演示账号见上表；动态口令在登录页“演示账号”框中显示（仅演示环境）。
 按 Ctrl+C 停止。
================================================================

MSG
.venv/bin/gunicorn tongban.wsgi:application --bind "$HOST:$PORT" --workers "${TONGBAN_WORKERS:-3}" \
  --access-logfile - --error-logfile - --timeout 60
