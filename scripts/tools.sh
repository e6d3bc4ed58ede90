#!/usr/bin/env bash
# Tools the tests need beyond Node.js: promtool (checks the Prometheus files in deploy/ and the
# engine's /metrics). Idempotent: returns at once when the tool is already there.
#
# promtool comes from Debian's `prometheus` package. The package is downloaded with apt-get and
# unpacked into .cache/tools (as services.sh keeps Kafka in .cache/kafka) instead of installed:
# installing it would also start a Prometheus server on :9090 on the machine, and promtool is a
# static binary that needs nothing else from the package. apt-get update runs (as root, else
# through sudo) only when the package lists do not know the package yet.
#
# usage: scripts/tools.sh [promtool-path]
#   (no argument)   make promtool available; prints its path
#   promtool-path   print the path of promtool, exit 1 when it is missing (no install)
#
# environment:
#   PROMTOOL          a promtool to use instead (its path); nothing is downloaded then
#   RISK_TOOLS_CACHE  where tools are unpacked (default .cache/tools)
set -euo pipefail

PROG=tools.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${RISK_TOOLS_CACHE:-$ROOT/.cache/tools}
[[ $TOOLS == /* ]] || TOOLS=$PWD/$TOOLS
CACHED=$TOOLS/bin/promtool

say() { echo "$PROG: $*" >&2; }

find_promtool() {
  if [[ -n ${PROMTOOL:-} ]]; then
    [[ -x $PROMTOOL ]] && { echo "$PROMTOOL"; return 0; }
    return 1
  fi
  if [[ -x $CACHED ]]; then echo "$CACHED"; return 0; fi
  command -v promtool 2>/dev/null && return 0
  return 1
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else say "need root or sudo for: $*"; return 1
  fi
}

install_promtool() {
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
    say "promtool is missing and this machine has no apt-get/dpkg-deb to fetch Debian's prometheus package;"
    say "install promtool (Prometheus 2.x or 3.x) yourself and put it on PATH, or set PROMTOOL=/path/to/promtool"
    return 1
  fi
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  say "fetching Debian's prometheus package for promtool"
  if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
    say "package lists do not have it: apt-get update"
    as_root apt-get update -qq || { say "apt-get update failed"; return 1; }
    (cd "$work" && apt-get download prometheus) || { say "apt-get download prometheus failed"; return 1; }
  fi
  mkdir -p "$TOOLS/prometheus" "$TOOLS/bin"
  dpkg-deb -x "$work"/prometheus_*.deb "$TOOLS/prometheus"
  ln -sf "$TOOLS/prometheus/usr/bin/promtool" "$CACHED"
  "$CACHED" --version >/dev/null 2>&1 || { say "the unpacked promtool does not run"; return 1; }
  echo "$CACHED"
}

case ${1:-} in
  promtool-path) find_promtool ;;
  '')
    if [[ -n ${PROMTOOL:-} ]]; then find_promtool || { say "PROMTOOL=$PROMTOOL is not an executable"; exit 1; }
    else find_promtool || install_promtool
    fi ;;
  *) say "unknown command: $1"; exit 64 ;;
esac
