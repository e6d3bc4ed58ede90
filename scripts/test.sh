#!/usr/bin/env bash
# `npm test`: brings up Kafka, Redis and NATS when they are not running, typechecks, then runs
# the unit tests (no I/O) and the integration tests (real services). Extra args go to ava.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh up
node_modules/.bin/tsc --noEmit -p .
node_modules/.bin/ava "$@"
