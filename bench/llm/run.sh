#!/usr/bin/env bash
# The LLM routing benchmark (issue 13): `bash bench/run.sh llm --help` for its options.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python bench/llm/llm.py "$@"
