#!/usr/bin/env bash
# The runtime benchmark (issue 2, item 7). Installs what it needs when missing: Debian's wrk,
# and one venv per third-party framework under bench/.venvs/ (pinned versions), then runs
# bench.py with any arguments given (see `bash bench/run.sh runtime --help`).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
if [ ! -x "$PY" ]; then
  echo "error: $PY is missing; run 'make venv' (or 'make test') first" >&2
  exit 2
fi

if ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing wrk (Debian package)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

# venv name -> the pip requirements it holds. Lepton 0.27.3 is the last release with Photons
# and needs a FastAPI of its time.
declare -A VENV_REQS=(
  [fastapi]="fastapi==0.165.0 uvicorn[standard]==0.54.0"
  [bentoml]="bentoml==1.4.40"
  [lepton]="leptonai==0.27.3 fastapi==0.115.12"
)
for name in "${!VENV_REQS[@]}"; do
  venv=bench/.venvs/$name
  stamp=$venv/.installed
  reqs=${VENV_REQS[$name]}
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$reqs" ]; then
    echo "creating $venv ($reqs)"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086  # the requirements are meant to split into words
    "$venv/bin/pip" install -q $reqs
    echo "$reqs" >"$stamp"
  fi
done

exec "$PY" bench/runtime/bench.py "$@"
