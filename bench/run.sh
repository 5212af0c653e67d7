#!/usr/bin/env bash
# Runs crosscloud's benchmarks: `bash bench/run.sh NAME [ARGS...]` runs bench/NAME/run.sh
# (or bench/NAME.py with the project's Python); with no name, every benchmark in turn
# (`make bench`). Results land in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
available=()
for script in bench/*/run.sh bench/*.py; do
  [ -e "$script" ] || continue
  case $script in
    */run.sh) available+=("$(basename "$(dirname "$script")")") ;;
    *) available+=("$(basename "$script" .py)") ;;
  esac
done

run_one() {
  local name=$1
  shift
  if [ -f "bench/$name/run.sh" ]; then
    bash "bench/$name/run.sh" "$@"
  elif [ -f "bench/$name.py" ]; then
    .venv/bin/python "bench/$name.py" "$@"
  else
    echo "error: no benchmark '$name'; available: ${available[*]}" >&2
    return 2
  fi
}

if [ $# -eq 0 ]; then
  for name in "${available[@]}"; do
    echo "== bench: $name"
    run_one "$name"
  done
  exit 0
fi
run_one "$@"
