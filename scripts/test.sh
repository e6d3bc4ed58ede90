#!/usr/bin/env bash
# `npm test`: brings up Kafka, Redis and NATS when they are not running, typechecks, builds dist/, runs the
# unit tests (no I/O) and the integration tests (real services), the exactly-once ones once more
# with kafka.transactions "shard", then the disruptive tests one at
# a time (they stop and restart services of their own), and last the unit and integration tests
# again under Node 24 LTS (scripts/node24.sh). Arguments replace the file selection.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh up
bash scripts/browser.sh   # Chromium for the console's browser test, installed when missing
bash scripts/tools.sh >/dev/null || echo 'test.sh: promtool could not be installed (see above): the deploy tests will fail' >&2
node_modules/.bin/tsc --noEmit -p .
# dist/ as well: the suites start the CLI's child processes from it (test/integration/helpers/cliCommand.ts)
node_modules/.bin/tsc -p tsconfig.build.json
if [ "$#" -gt 0 ]; then
  exec node_modules/.bin/ava "$@"
fi
node_modules/.bin/ava 'test/unit/**/*.test.ts' 'test/integration/**/*.test.ts'
# The exactly-once tests again with a transactional producer per shard (kafka.transactions "shard"):
# crashes, kills, a zombie and rebalances, fenced by the shard's producer instead of the group generation.
# (gracefulStop runs in both modes by itself.)
KAFKA_TRANSACTIONS=shard node_modules/.bin/ava test/integration/pipeline/exactlyOnce.test.ts test/integration/pipeline/crashBeforeCommit.test.ts 'test/integration/cluster/*.test.ts'
if compgen -G 'test/disruptive/**/*.test.ts' >/dev/null || ls test/disruptive/*.test.ts >/dev/null 2>&1; then
  node_modules/.bin/ava --concurrency 1 'test/disruptive/**/*.test.ts'
fi
# Node 24 LTS: the same unit and integration suites in a copy with its own npm ci
bash scripts/node24.sh
