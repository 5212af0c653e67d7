#!/usr/bin/env bash
# Installs the system packages the tests use when they are missing (CI is a fresh machine):
# Java for Spark, PostgreSQL's server binaries for the store tests, buildah for image builds.
set -euo pipefail
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
command -v buildah >/dev/null || need+=(buildah)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
