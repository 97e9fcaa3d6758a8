# Sourced by serve.sh and test.sh: finds Python 3.12 and (re)builds .venv when the requirements change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
  if command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    command -v python3.12; return
  fi
  for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
    if [ -x "$p" ]; then echo "$p"; return; fi
  done
  echo "未找到 Python 3.12（python3.12）。请先安装 Python 3.12。" >&2
  exit 1
}

ensure_venv() {  # $1: requirements file
  local req="$1" stamp=".venv/.requirements.sha256" want
  want="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)-$req"
  if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    local py; py="$(find_python)"
    echo "==> 准备虚拟环境（$("$py" --version)）"
    [ -x .venv/bin/python ] || "$py" -m venv .venv
    # This kind of machine's pip configuration names local mirrors that may be absent: drop those warnings only.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2> >(grep -v "is ignored: it is neither" >&2)
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req" 2> >(grep -v "is ignored: it is neither" >&2)
    echo "$want" > "$stamp"
  fi
}

ensure_apt() {  # $@: Debian packages the app needs (the CJK font for PDFs; Chromium for browser tests)
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ]; then
    echo "==> 安装 ${missing[*]}（apt）"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/tmp/tongban-apt.log 2>&1 \
      || { echo "apt 安装失败，见 /tmp/tongban-apt.log"; exit 1; }
  else
    echo "！缺少 ${missing[*]}：请以 root 运行，或执行 sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
}
