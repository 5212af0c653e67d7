#!/usr/bin/env bash
# The gateway benchmark (issue 5). Installs what it lacks: Debian's wrk, nginx and ab, and
# bench/.venvs/aiohttp (pinned aiohttp + uvloop) for the aiohttp proxy; then runs
# gateway.py with any arguments given (`bash bench/run.sh gateway --help`), or tls.py
# (`bash bench/run.sh gateway tls --help`).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
if [ ! -x "$PY" ]; then
  echo "error: $PY is missing; run 'make venv' (or 'make test') first" >&2
  exit 2
fi
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v ab >/dev/null || missing+=(apache2-utils)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing ${missing[*]} (Debian packages)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  # Debian starts the packaged nginx service; the benchmark runs its own.
  $SUDO service nginx stop >/dev/null 2>&1 || true
fi
export PATH="$PATH:/usr/sbin"
reqs="aiohttp==3.12.15 uvloop==0.21.0"
venv=bench/.venvs/aiohttp
if [ ! -f "$venv/.installed" ] || [ "$(cat "$venv/.installed")" != "$reqs" ]; then
  echo "creating $venv ($reqs)"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086  # the requirements are meant to split into words
  "$venv/bin/pip" install -q $reqs
  echo "$reqs" >"$venv/.installed"
fi
if [ "${1:-}" = "tls" ]; then  # HTTPS at the front door beside nginx (tls.py)
  shift
  exec "$PY" bench/gateway/tls.py "$@"
fi
exec "$PY" bench/gateway/gateway.py "$@"
