#!/usr/bin/env bash
# The browser of the console test (test/integration/admin/console.test.ts): Debian's Chromium,
# driven by playwright-core (no browser download). Installs it when missing; does nothing when
# it is there. Needs root (or sudo) and the Debian package mirror.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "scripts/browser.sh: installing Debian's chromium for the console test" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
