#!/usr/bin/env bash
# Installs the system packages the tests use when they are missing (CI is a fresh machine):
# Java for Spark, PostgreSQL's server binaries for the store tests, buildah for image builds,
# nginx (the gateway's reference in the conformance suite) and the HTTP clients users use
# (curl, ab, wrk) for the client matrix, Debian's Chromium for the dashboard's browser
# tests (Playwright drives it by its path; no browser is ever downloaded), iproute2 and
# tcpdump for local regions as network hosts, and openssl (and tcpdump) for the mutual TLS
# tests.
set -euo pipefail
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
command -v buildah >/dev/null || need+=(buildah)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
command -v ab >/dev/null || need+=(apache2-utils)
command -v wrk >/dev/null || need+=(wrk)
command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || need+=(chromium)
# local regions as network hosts: namespaces and veth pairs, and captures on their links
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || need+=(iproute2)
command -v tcpdump >/dev/null || [ -x /usr/bin/tcpdump ] || need+=(tcpdump)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
