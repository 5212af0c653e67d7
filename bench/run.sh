#!/usr/bin/env bash
# Runs crosscloud's benchmarks: `bash bench/run.sh NAME [ARGS...]` runs bench/NAME/run.sh;
# with no name, every benchmark in turn (`make bench`). Results land in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
available=()
for script in bench/*/run.sh; do
  available+=("$(basename "$(dirname "$script")")")
done
if [ $# -eq 0 ]; then
  for name in "${available[@]}"; do
    echo "== bench/$name"
    bash "bench/$name/run.sh"
  done
  exit 0
fi
name=$1
shift
if [ ! -f "bench/$name/run.sh" ]; then
  echo "error: no benchmark '$name'; available: ${available[*]}" >&2
  exit 2
fi
exec bash "bench/$name/run.sh" "$@"
