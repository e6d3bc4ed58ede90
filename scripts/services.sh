#!/usr/bin/env bash
# Local services of risk-engine: Kafka (single-node KRaft, fetched from Maven Central),
# Redis and NATS with JetStream (Debian packages). Idempotent: every start command
# returns at once when the service already answers.
# Besides the plain ports, each service has a second, authenticated endpoint for the tests of
# secure connections: Kafka's SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; the
# SCRAM user is created when the storage is formatted, or once with kafka-configs on an older data
# dir), a redis-server with requirepass and an ACL user, a nats-server with a token.
#
# usage: scripts/services.sh COMMAND
#   up            start Redis, NATS and Kafka and their authenticated endpoints (whatever is not
#                 answering) and wait for them
#   down          stop the Kafka broker (Redis and NATS are machine services and stay up)
#   status        one line per service; exit 0 when all answer, 3 otherwise
#   kafka-start   start the broker (keeps its data dir); waits until it answers
#   kafka-stop    stop the broker: SIGTERM, wait, then SIGKILL (keeps its data dir)
#   redis-start   start redis-server on 127.0.0.1:6379 when it does not answer
#   redis-stop    shut Redis down
#   nats-start    start nats-server -js on 127.0.0.1:4222 when it does not answer
#   nats-stop     stop nats-server (SIGTERM, wait, then SIGKILL)
#   redis-auth-start / redis-auth-stop   the redis-server with a password (RISK_REDIS_AUTH_PORT)
#   nats-auth-start / nats-auth-stop     the nats-server with a token (RISK_NATS_AUTH_PORT)
#   kafka-home    fetch Kafka if needed and print its install dir (jars in <dir>/libs)
#   kafka-class CLASS [ARGS...]
#                 run a Kafka main class on that classpath, e.g.
#                 kafka-class org.apache.kafka.tools.ProducerPerformance --topic t ...
#
# environment:
#   RISK_KAFKA_VERSION        Kafka version (default: <kafka.version> in scripts/kafka/pom.xml)
#   RISK_KAFKA_CACHE          where Kafka jars are cached (default .cache/kafka; jars in <cache>/<version>/libs)
#   RISK_KAFKA_DATA           broker data dir: log.dirs, server.log, pid file (default .cache/kafka-data)
#   RISK_KAFKA_PORT           client port (9092); RISK_KAFKA_CONTROLLER_PORT (9093)
#   RISK_KAFKA_HEAP           JVM heap options (default "-Xms256m -Xmx768m")
#   RISK_KAFKA_JAVA_OPTS      extra JVM options for the broker
#   RISK_KAFKA_START_TIMEOUT  seconds to wait for the broker to answer (90)
#   RISK_KAFKA_CLUSTER_ID     cluster id used when formatting a fresh data dir
#   RISK_KAFKA_SASL_PORT      SASL_PLAINTEXT listener (9094); its user RISK_KAFKA_SASL_USER (risk-test)
#                             with RISK_KAFKA_SASL_PASSWORD (risk-test-secret), for PLAIN and both SCRAMs
#   RISK_REDIS_PORT (6379), RISK_NATS_PORT (4222)
#   RISK_REDIS_AUTH_PORT (6380) with requirepass RISK_REDIS_AUTH_PASSWORD (risk-test-secret) and the
#                             ACL user RISK_REDIS_AUTH_USER (risk-test, same password)
#   RISK_NATS_AUTH_PORT (4223) with the token RISK_NATS_TOKEN (risk-test-token)
# These are test credentials of local, loopback-only servers; never reuse them elsewhere.
set -euo pipefail

PROG=services.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAFKA_CONF_DIR=$ROOT/scripts/kafka
KAFKA_POM=$KAFKA_CONF_DIR/pom.xml

pom_kafka_version() {
  sed -n 's:.*<kafka.version>\([^<]*\)</kafka.version>.*:\1:p' "$KAFKA_POM" | head -n1
}
KAFKA_VERSION=${RISK_KAFKA_VERSION:-$(pom_kafka_version)}
KAFKA_CACHE=${RISK_KAFKA_CACHE:-$ROOT/.cache/kafka}
[[ $KAFKA_CACHE == /* ]] || KAFKA_CACHE=$PWD/$KAFKA_CACHE
KAFKA_HOME=$KAFKA_CACHE/$KAFKA_VERSION
KAFKA_LIBS=$KAFKA_HOME/libs
KAFKA_DATA=${RISK_KAFKA_DATA:-$ROOT/.cache/kafka-data}
[[ $KAFKA_DATA == /* ]] || KAFKA_DATA=$PWD/$KAFKA_DATA # the pid check matches the absolute config path
KAFKA_HOST=127.0.0.1
KAFKA_PORT=${RISK_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${RISK_KAFKA_CONTROLLER_PORT:-9093}
KAFKA_SASL_PORT=${RISK_KAFKA_SASL_PORT:-9094}
KAFKA_SASL_USER=${RISK_KAFKA_SASL_USER:-risk-test}
KAFKA_SASL_PASSWORD=${RISK_KAFKA_SASL_PASSWORD:-risk-test-secret}
KAFKA_HEAP=${RISK_KAFKA_HEAP:--Xms256m -Xmx768m}
KAFKA_START_TIMEOUT=${RISK_KAFKA_START_TIMEOUT:-90}
KAFKA_STOP_TIMEOUT=30
# base64url of the 16 bytes "riskengine-kafka": a fixed, valid KRaft cluster id
KAFKA_CLUSTER_ID=${RISK_KAFKA_CLUSTER_ID:-cmlza2VuZ2luZS1rYWZrYQ}
KAFKA_PIDFILE=$KAFKA_DATA/kafka.pid
KAFKA_CONFIG=$KAFKA_DATA/server.properties
KAFKA_LOGDIR=$KAFKA_DATA/logs
KAFKA_SCRAM_STAMP=$KAFKA_DATA/scram-user.stamp

REDIS_HOST=127.0.0.1
REDIS_PORT=${RISK_REDIS_PORT:-6379}
REDIS_AUTH_PORT=${RISK_REDIS_AUTH_PORT:-6380}
REDIS_AUTH_USER=${RISK_REDIS_AUTH_USER:-risk-test}
REDIS_AUTH_PASSWORD=${RISK_REDIS_AUTH_PASSWORD:-risk-test-secret}
NATS_HOST=127.0.0.1
NATS_PORT=${RISK_NATS_PORT:-4222}
NATS_AUTH_PORT=${RISK_NATS_AUTH_PORT:-4223}
NATS_TOKEN=${RISK_NATS_TOKEN:-risk-test-token}
NATS_BIN=/usr/sbin/nats-server

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- prerequisites

JAVA=
need_java() {
  [[ -n $JAVA ]] && return 0
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then JAVA=$JAVA_HOME/bin/java
  elif command -v java >/dev/null 2>&1; then JAVA=$(command -v java)
  else die "java not found: install a JDK 17+ (apt-get install -y openjdk-17-jre-headless)"
  fi
  local spec
  spec=$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | head -n1)
  spec=${spec#1.}
  [[ $spec =~ ^[0-9]+$ ]] || die "cannot tell the version of $JAVA: install a JDK 17+ (apt-get install -y openjdk-17-jre-headless)"
  (( spec >= 17 )) || die "java $spec found at $JAVA, Kafka $KAFKA_VERSION needs 17+: install a JDK 17+ (apt-get install -y openjdk-17-jre-headless)"
}

need_mvn() {
  command -v mvn >/dev/null 2>&1 \
    || die "mvn not found: install Maven 3.6+ to fetch Kafka from Maven Central (apt-get install -y maven)"
}

# apt-get update once per run, then install the named Debian packages
APT_UPDATED=
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "$* not installed and no apt-get to install it"
  if [[ $(id -u) != 0 ]]; then die "$* not installed: run 'apt-get install -y $*' as root"; fi
  say "installing $* from Debian packages"
  if [[ -z $APT_UPDATED ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# is something accepting TCP connections on HOST PORT?
tcp_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" >/dev/null 2>&1
}

# pid of the process listening on TCP PORT (empty when none)
listener_pid() {
  ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1
}

# SIGTERM PID, wait up to SECS, then SIGKILL; returns when PID is gone
stop_pid() {
  local pid=$1 secs=$2 name=$3 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  say "$name (pid $pid) still running ${secs}s after SIGTERM: sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "$name (pid $pid) survived SIGKILL"
}

# ---------------------------------------------------------------- Kafka

kafka_fetch() {
  if [[ -f $KAFKA_LIBS/.complete ]]; then return 0; fi
  need_mvn
  mkdir -p "$KAFKA_CACHE"
  exec 8>"$KAFKA_CACHE/.fetch.lock"
  flock -w 600 8 || die "timed out waiting for another fetch of Kafka (lock $KAFKA_CACHE/.fetch.lock)"
  if [[ ! -f $KAFKA_LIBS/.complete ]]; then
    local t0 tmp
    t0=$(now)
    tmp=$KAFKA_HOME/libs.tmp.$$
    rm -rf "$tmp"
    mkdir -p "$tmp"
    say "fetching Apache Kafka $KAFKA_VERSION and its runtime dependencies from Maven Central into $KAFKA_LIBS"
    # (the sed drops the ANSI resets that Maven 3.8 prints even in batch mode)
    if ! mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 \
        | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' >&2; then
      rm -rf "$tmp"
      die "could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION with Maven (see above)"
    fi
    ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 \
      || { rm -rf "$tmp"; die "Maven ran but kafka_2.13-$KAFKA_VERSION.jar is not in $tmp"; }
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    touch "$KAFKA_LIBS/.complete"
    say "fetched $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars, $(du -sh "$KAFKA_LIBS" | cut -f1), in $(since "$t0")s"
  fi
  exec 8>&-
}

kafka_java() { # run a Kafka main class with the cached classpath (tools logging)
  need_java
  kafka_fetch
  "$JAVA" -Xmx512m -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_CONF_DIR/tools-log4j2.properties" \
    -cp "$KAFKA_LIBS/*" "$@"
}

kafka_pid() { # pid of our broker, from the pid file, if that process is still our broker
  local pid
  [[ -f $KAFKA_PIDFILE ]] || return 1
  pid=$(<"$KAFKA_PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kafka_is_ours "$pid" || return 1
  echo "$pid"
}

kafka_is_ours() { # is PID a kafka.Kafka JVM started with our config file?
  local cmd
  # stderr first: a process that ends while the loop looks at it leaves no file, and no message
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
  [[ $cmd == *" kafka.Kafka $KAFKA_CONFIG"* ]]
}

kafka_stray_pid() { # a broker of ours running without (a valid) pid file
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    if kafka_is_ours "$p"; then echo "$p"; return 0; fi
  done
  return 1
}

# does the broker answer a metadata request? (kafkajs when installed, else Kafka's own admin client)
kafka_answers() {
  tcp_open "$KAFKA_HOST" "$KAFKA_PORT" || return 1
  if command -v node >/dev/null 2>&1 && [[ -f $ROOT/node_modules/kafkajs/package.json ]]; then
    timeout 15 node -e '
      const { Kafka, logLevel } = require(process.argv[1]);
      const kafka = new Kafka({ clientId: "services-sh", brokers: [process.argv[2]], logLevel: logLevel.NOTHING,
        connectionTimeout: 2000, requestTimeout: 5000, retry: { retries: 0 } });
      const admin = kafka.admin();
      setTimeout(() => process.exit(1), 10000);
      admin.connect()
        .then(() => admin.describeCluster())
        .then((c) => admin.listTopics().then(() => process.exit(c.brokers.length > 0 ? 0 : 1)))
        .catch(() => process.exit(1));
    ' "$ROOT/node_modules/kafkajs" "$KAFKA_HOST:$KAFKA_PORT" >/dev/null 2>&1
  else
    timeout 30 "$JAVA" -Xmx128m -Dlog4j2.configurationFile="$KAFKA_CONF_DIR/tools-log4j2.properties" \
      -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand \
      --bootstrap-server "$KAFKA_HOST:$KAFKA_PORT" --list >/dev/null 2>&1
  fi
}

kafka_write_config() {
  mkdir -p "$KAFKA_DATA" "$KAFKA_LOGDIR"
  {
    cat "$KAFKA_CONF_DIR/server.properties"
    echo
    echo "# ---- added by scripts/services.sh"
    echo "log.dirs=$KAFKA_LOGDIR"
    echo "listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT,SASL_PLAINTEXT://$KAFKA_HOST:$KAFKA_SASL_PORT"
    echo "advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,SASL_PLAINTEXT://$KAFKA_HOST:$KAFKA_SASL_PORT"
    echo "controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT"
    # PLAIN checks passwords against this JAAS list; SCRAM against the credentials in the
    # cluster metadata (created by kafka_format or kafka_ensure_scram)
    echo "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER=\"$KAFKA_SASL_PASSWORD\";"
    echo "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
    echo "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
  } >"$KAFKA_CONFIG.tmp"
  chmod 600 "$KAFKA_CONFIG.tmp"
  mv "$KAFKA_CONFIG.tmp" "$KAFKA_CONFIG"
}

# the SCRAM user's stamp: which user and password the cluster metadata holds credentials for
kafka_scram_stamp() { printf '%s\n' "$KAFKA_SASL_USER" "$KAFKA_SASL_PASSWORD" | sha256sum | cut -c1-64; }

# A data dir formatted before the SASL listener existed (or another user/password): create the
# SCRAM credentials through the running broker, once.
kafka_ensure_scram() {
  local stamp
  stamp=$(kafka_scram_stamp)
  [[ -f $KAFKA_SCRAM_STAMP && $(<"$KAFKA_SCRAM_STAMP") == "$stamp" ]] && return 0
  say "kafka: creating SCRAM-SHA-256/512 credentials of user $KAFKA_SASL_USER"
  local mechanism
  # one mechanism per request: the broker refuses to alter one user's credentials twice in one
  for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
    if ! "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$KAFKA_CONF_DIR/tools-log4j2.properties" \
        -cp "$KAFKA_LIBS/*" kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_HOST:$KAFKA_PORT" \
        --alter --entity-type users --entity-name "$KAFKA_SASL_USER" \
        --add-config "$mechanism=[password=$KAFKA_SASL_PASSWORD]" \
        >"$KAFKA_DATA/scram.log" 2>&1; then
      # the tool echoes its arguments: not the password
      sed "s/password=[^],]*/password=***/g" "$KAFKA_DATA/scram.log" >&2
      rm -f "$KAFKA_DATA/scram.log"
      die "could not create the $mechanism credentials of $KAFKA_SASL_USER (kafka-configs, see above)"
    fi
  done
  rm -f "$KAFKA_DATA/scram.log"
  echo "$stamp" >"$KAFKA_SCRAM_STAMP"
}

kafka_format() {
  [[ -f $KAFKA_LOGDIR/meta.properties ]] && return 0
  say "formatting KRaft storage in $KAFKA_LOGDIR (cluster id $KAFKA_CLUSTER_ID)"
  if ! "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$KAFKA_CONF_DIR/tools-log4j2.properties" \
      -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
      --cluster-id "$KAFKA_CLUSTER_ID" --config "$KAFKA_CONFIG" --ignore-formatted \
      --add-scram "SCRAM-SHA-256=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]" \
      --add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]" \
      >"$KAFKA_DATA/format.log" 2>&1; then
    cat "$KAFKA_DATA/format.log" >&2
    die "formatting Kafka storage in $KAFKA_LOGDIR failed"
  fi
  kafka_scram_stamp >"$KAFKA_SCRAM_STAMP"
}

kafka_log_tail() { # server.log, then the JVM's own output of this start (kafka.out since its last marker)
  if [[ -s $KAFKA_DATA/server.log ]]; then
    echo "---- last lines of $KAFKA_DATA/server.log" >&2
    tail -n 30 "$KAFKA_DATA/server.log" >&2
  fi
  if [[ -s $KAFKA_DATA/kafka.out ]]; then
    echo "---- output of the JVM ($KAFKA_DATA/kafka.out)" >&2
    awk '/^==== .* starting Kafka/ { n = 0; delete l; next } { l[++n] = $0 } END { s = n > 40 ? n - 39 : 1; for (i = s; i <= n; i++) print l[i] }' \
      "$KAFKA_DATA/kafka.out" >&2
  fi
}

kafka_wait() { # PID T0: wait until the broker answers, or fail
  local pid=$1 t0=$2 deadline
  deadline=$(( $(date +%s) + KAFKA_START_TIMEOUT ))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      kafka_log_tail
      rm -f "$KAFKA_PIDFILE"
      die "Kafka broker (pid $pid) exited during start-up; logs in $KAFKA_DATA"
    fi
    if kafka_answers && tcp_open "$KAFKA_HOST" "$KAFKA_SASL_PORT"; then
      say "kafka: ready on $KAFKA_HOST:$KAFKA_PORT (SASL on $KAFKA_SASL_PORT) after $(since "$t0")s (pid $pid, Kafka $KAFKA_VERSION)"
      return 0
    fi
    if (( $(date +%s) >= deadline )); then
      kafka_log_tail
      die "Kafka broker (pid $pid) did not answer on $KAFKA_HOST:$KAFKA_PORT within ${KAFKA_START_TIMEOUT}s; it is still running: '$PROG kafka-stop' stops it"
    fi
    sleep 0.5
  done
}

kafka_start() {
  need_java
  kafka_fetch
  mkdir -p "$KAFKA_DATA"
  # serialise concurrent starts on one data dir (the broker itself must not inherit this fd)
  exec 9>"$KAFKA_DATA/.start.lock"
  flock -w $((KAFKA_START_TIMEOUT + 60)) 9 || die "timed out waiting for another '$PROG kafka-start' on $KAFKA_DATA"
  local pid t0
  t0=$(now)
  if pid=$(kafka_pid) || pid=$(kafka_stray_pid); then
    echo "$pid" >"$KAFKA_PIDFILE"
    if kafka_answers && ! tcp_open "$KAFKA_HOST" "$KAFKA_SASL_PORT"; then
      # started from a config of before the SASL listener: once, restart it with the new one
      say "kafka: pid $pid runs without the SASL listener on $KAFKA_SASL_PORT (an older config); restarting it"
      stop_pid "$pid" "$KAFKA_STOP_TIMEOUT" "Kafka broker"
      rm -f "$KAFKA_PIDFILE"
    else
      if kafka_answers; then
        say "kafka: already running on $KAFKA_HOST:$KAFKA_PORT (pid $pid)"
      else
        say "kafka: pid $pid is starting, waiting for it"
        kafka_wait "$pid" "$t0"
      fi
      kafka_ensure_scram
      exec 9>&-
      return 0
    fi
  fi
  rm -f "$KAFKA_PIDFILE"
  # A broker started by another checkout (or by the machine) already serves this port: use it.
  if kafka_answers; then
    say "kafka: a broker already answers on $KAFKA_HOST:$KAFKA_PORT (not started from this checkout); using it"
    exec 9>&-
    return 0
  fi
  if tcp_open "$KAFKA_HOST" "$KAFKA_PORT" || tcp_open "$KAFKA_HOST" "$KAFKA_CONTROLLER_PORT" || tcp_open "$KAFKA_HOST" "$KAFKA_SASL_PORT"; then
    local other
    other=$(listener_pid "$KAFKA_PORT")
    [[ -n $other ]] || other=$(listener_pid "$KAFKA_CONTROLLER_PORT")
    [[ -n $other ]] || other=$(listener_pid "$KAFKA_SASL_PORT")
    die "port $KAFKA_PORT, $KAFKA_CONTROLLER_PORT or $KAFKA_SASL_PORT on $KAFKA_HOST is taken by another process${other:+ (pid $other: $(tr '\0' ' ' </proc/"$other"/cmdline 2>/dev/null | cut -c1-120))}"
  fi
  kafka_write_config
  kafka_format
  {
    echo
    echo "==== $(date -u +%FT%TZ) $PROG: starting Kafka $KAFKA_VERSION"
  } >>"$KAFKA_DATA/kafka.out"
  # shellcheck disable=SC2086 # KAFKA_HEAP and RISK_KAFKA_JAVA_OPTS are word lists
  setsid nohup "$JAVA" $KAFKA_HEAP \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dkafka.logs.dir="$KAFKA_DATA" \
    -Dlog4j2.configurationFile="$KAFKA_CONF_DIR/log4j2.properties" \
    ${RISK_KAFKA_JAVA_OPTS:-} \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONFIG" \
    </dev/null >>"$KAFKA_DATA/kafka.out" 2>&1 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$KAFKA_PIDFILE"
  say "kafka: started pid $pid, waiting up to ${KAFKA_START_TIMEOUT}s for $KAFKA_HOST:$KAFKA_PORT (log $KAFKA_DATA/server.log)"
  kafka_wait "$pid" "$t0"
  kafka_ensure_scram
  exec 9>&-
}

kafka_stop() {
  local pid
  if ! pid=$(kafka_pid) && ! pid=$(kafka_stray_pid); then
    rm -f "$KAFKA_PIDFILE"
    say "kafka: not running"
    return 0
  fi
  local t0
  t0=$(now)
  stop_pid "$pid" "$KAFKA_STOP_TIMEOUT" "Kafka broker"
  rm -f "$KAFKA_PIDFILE"
  say "kafka: stopped pid $pid in $(since "$t0")s (data kept in $KAFKA_DATA)"
}

kafka_status() {
  local pid
  if pid=$(kafka_pid) || pid=$(kafka_stray_pid); then
    if kafka_answers; then
      if ! tcp_open "$KAFKA_HOST" "$KAFKA_SASL_PORT"; then
        echo "kafka  down  $KAFKA_HOST:$KAFKA_PORT  pid $pid answers, but not its SASL listener $KAFKA_HOST:$KAFKA_SASL_PORT ('$PROG kafka-start' restarts it)"
        return 1
      fi
      echo "kafka  up    $KAFKA_HOST:$KAFKA_PORT  SASL $KAFKA_HOST:$KAFKA_SASL_PORT  pid $pid  Kafka $KAFKA_VERSION  data $KAFKA_DATA"
      return 0
    fi
    echo "kafka  down  $KAFKA_HOST:$KAFKA_PORT  pid $pid running but not answering (starting or stuck)  log $KAFKA_DATA/server.log"
    return 1
  fi
  if kafka_answers; then
    echo "kafka  up    $KAFKA_HOST:$KAFKA_PORT  a broker started outside this checkout"
    return 0
  fi
  if tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
    echo "kafka  down  $KAFKA_HOST:$KAFKA_PORT  port open but no broker answers"
    return 1
  fi
  echo "kafka  down  $KAFKA_HOST:$KAFKA_PORT"
  return 1
}

# ---------------------------------------------------------------- Redis

redis_answers() {
  [[ $(timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

redis_start() {
  if command -v redis-cli >/dev/null 2>&1 && redis_answers; then
    say "redis: already running on $REDIS_HOST:$REDIS_PORT"
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    apt_install redis-server
  fi
  if redis_answers; then # the package's own service may have started it
    say "redis: running on $REDIS_HOST:$REDIS_PORT"
    return 0
  fi
  mkdir -p /var/lib/redis /var/log/redis
  local t0 i
  t0=$(now)
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2
  for ((i = 0; i < 200; i++)); do
    if redis_answers; then
      say "redis: ready on $REDIS_HOST:$REDIS_PORT after $(since "$t0")s"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 /var/log/redis/ci.log >&2 || true
  die "redis-server did not answer on $REDIS_HOST:$REDIS_PORT within 20s (log /var/log/redis/ci.log)"
}

redis_stop() {
  if ! command -v redis-cli >/dev/null 2>&1 || ! redis_answers; then
    say "redis: not running"
    return 0
  fi
  local pid i
  pid=$(listener_pid "$REDIS_PORT")
  # SHUTDOWN saves first when the server has save points; NOSAVE when that save fails
  timeout 10 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" shutdown >/dev/null 2>&1 \
    || timeout 10 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  for ((i = 0; i < 100; i++)); do
    if ! tcp_open "$REDIS_HOST" "$REDIS_PORT"; then
      say "redis: stopped"
      return 0
    fi
    sleep 0.1
  done
  [[ -n $pid ]] || die "redis on $REDIS_HOST:$REDIS_PORT did not shut down"
  stop_pid "$pid" 10 redis-server
  say "redis: stopped pid $pid"
}

redis_status() {
  if command -v redis-cli >/dev/null 2>&1 && redis_answers; then
    echo "redis  up    $REDIS_HOST:$REDIS_PORT"
    return 0
  fi
  command -v redis-server >/dev/null 2>&1 || { echo "redis  down  $REDIS_HOST:$REDIS_PORT  (redis-server not installed)"; return 1; }
  echo "redis  down  $REDIS_HOST:$REDIS_PORT"
  return 1
}

# ---------------------------------------------------------------- Redis with a password

redis_auth_cli() { # redis-cli on the password port; the password through the environment, not argv
  REDISCLI_AUTH=$REDIS_AUTH_PASSWORD timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_AUTH_PORT" "$@" 2>/dev/null
}

redis_auth_answers() { # answers PONG with the password, and refuses a client without it
  [[ $(redis_auth_cli ping) == PONG ]] || return 1
  [[ $(timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_AUTH_PORT" ping 2>&1) == *NOAUTH* ]]
}

redis_auth_start() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 || apt_install redis-server
  if redis_auth_answers; then
    say "redis: password-protected server already running on $REDIS_HOST:$REDIS_AUTH_PORT"
    return 0
  fi
  if tcp_open "$REDIS_HOST" "$REDIS_AUTH_PORT"; then
    die "port $REDIS_AUTH_PORT on $REDIS_HOST answers, but not as a redis-server with the test password (RISK_REDIS_AUTH_PORT picks another)"
  fi
  mkdir -p /var/lib/redis /var/log/redis
  local t0 i conf
  t0=$(now)
  # the passwords go in a config file of mode 600 rather than on the command line (ps shows that)
  conf=/var/lib/redis/risk-auth-$REDIS_AUTH_PORT.conf
  (
    umask 077
    {
      echo "bind 127.0.0.1"
      echo "port $REDIS_AUTH_PORT"
      echo 'save ""'
      echo "appendonly no"
      echo "dir /var/lib/redis"
      echo "dbfilename risk-auth-$REDIS_AUTH_PORT.rdb"
      echo "logfile /var/log/redis/ci-auth-$REDIS_AUTH_PORT.log"
      echo "daemonize yes"
      echo "requirepass $REDIS_AUTH_PASSWORD"
      echo "user $REDIS_AUTH_USER on >$REDIS_AUTH_PASSWORD ~* &* +@all"
    } >"$conf"
  )
  redis-server "$conf" >&2
  for ((i = 0; i < 200; i++)); do
    if redis_auth_answers; then
      say "redis: password-protected server ready on $REDIS_HOST:$REDIS_AUTH_PORT after $(since "$t0")s"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "/var/log/redis/ci-auth-$REDIS_AUTH_PORT.log" >&2 || true
  die "redis-server did not answer on $REDIS_HOST:$REDIS_AUTH_PORT within 20s"
}

redis_auth_stop() {
  if ! redis_auth_answers; then
    say "redis: no password-protected server on $REDIS_HOST:$REDIS_AUTH_PORT"
    return 0
  fi
  redis_auth_cli shutdown nosave >/dev/null || true
  local i
  for ((i = 0; i < 100; i++)); do
    tcp_open "$REDIS_HOST" "$REDIS_AUTH_PORT" || { say "redis: stopped the server on $REDIS_AUTH_PORT"; return 0; }
    sleep 0.1
  done
  die "redis on $REDIS_HOST:$REDIS_AUTH_PORT did not shut down"
}

redis_auth_status() {
  if command -v redis-cli >/dev/null 2>&1 && redis_auth_answers; then
    echo "redis  up    $REDIS_HOST:$REDIS_AUTH_PORT  requirepass, ACL user $REDIS_AUTH_USER"
    return 0
  fi
  echo "redis  down  $REDIS_HOST:$REDIS_AUTH_PORT  (requirepass)"
  return 1
}

# ---------------------------------------------------------------- NATS

nats_info() { # [PORT]: first line of the NATS protocol: INFO {...}
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && head -n1 <&3' _ "$NATS_HOST" "${1:-$NATS_PORT}" 2>/dev/null
}

nats_answers() { # [PORT]: answers with JetStream enabled
  local info
  info=$(nats_info "${1:-$NATS_PORT}") || return 1
  [[ $info == INFO* && $info == *'"jetstream":true'* ]]
}

nats_auth_answers() { # the token server: JetStream, and it requires authentication
  local info
  info=$(nats_info "$NATS_AUTH_PORT") || return 1
  [[ $info == INFO* && $info == *'"jetstream":true'* && $info == *'"auth_required":true'* ]]
}

nats_paths() { # [PORT]: store dir and log file; the default port uses the standard Debian paths
  local port=${1:-$NATS_PORT}
  if [[ $port == 4222 ]]; then
    NATS_STORE=/var/lib/nats-server NATS_LOG=/var/log/nats-server.log
  else
    NATS_STORE=/var/lib/nats-server-$port NATS_LOG=/var/log/nats-server-$port.log
  fi
  NATS_PIDFILE=/run/nats-server-$port.pid
}

nats_start() {
  if nats_answers; then
    say "nats: already running on $NATS_HOST:$NATS_PORT (JetStream)"
    return 0
  fi
  if tcp_open "$NATS_HOST" "$NATS_PORT"; then
    die "something answers on $NATS_HOST:$NATS_PORT but not as nats-server with JetStream (first line: $(nats_info | cut -c1-80))"
  fi
  [[ -x $NATS_BIN ]] || apt_install nats-server
  [[ -x $NATS_BIN ]] || die "nats-server not found at $NATS_BIN after installing the Debian package"
  if nats_answers; then
    say "nats: running on $NATS_HOST:$NATS_PORT"
    return 0
  fi
  nats_paths
  mkdir -p "$NATS_STORE" "$(dirname "$NATS_LOG")" "$(dirname "$NATS_PIDFILE")"
  local t0 i
  t0=$(now)
  # the pid file only scopes --oknodo to this port's server
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile "$NATS_PIDFILE" \
    --exec "$NATS_BIN" -- -a "$NATS_HOST" -p "$NATS_PORT" -js -sd "$NATS_STORE" -l "$NATS_LOG" >&2
  for ((i = 0; i < 200; i++)); do
    if nats_answers; then
      say "nats: ready on $NATS_HOST:$NATS_PORT after $(since "$t0")s"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$NATS_LOG" >&2 || true
  die "nats-server did not answer on $NATS_HOST:$NATS_PORT within 20s (log $NATS_LOG)"
}

nats_stop() { # [PORT]
  local port=${1:-$NATS_PORT}
  nats_paths "$port"
  local pid
  pid=$(listener_pid "$port")
  if [[ -z $pid ]]; then
    rm -f "$NATS_PIDFILE"
    say "nats: not running on $port"
    return 0
  fi
  [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$NATS_BIN" ]] \
    || die "port $port is held by pid $pid, which is not $NATS_BIN; not stopping it"
  # nats-server flushes JetStream state on SIGTERM (lame-duck would take minutes)
  stop_pid "$pid" 15 nats-server
  rm -f "$NATS_PIDFILE"
  say "nats: stopped pid $pid"
}

nats_auth_start() {
  if nats_auth_answers; then
    say "nats: token-protected server already running on $NATS_HOST:$NATS_AUTH_PORT"
    return 0
  fi
  if tcp_open "$NATS_HOST" "$NATS_AUTH_PORT"; then
    die "something answers on $NATS_HOST:$NATS_AUTH_PORT but not as nats-server with JetStream and auth (first line: $(nats_info "$NATS_AUTH_PORT" | cut -c1-80))"
  fi
  [[ -x $NATS_BIN ]] || apt_install nats-server
  nats_paths "$NATS_AUTH_PORT"
  mkdir -p "$NATS_STORE" "$(dirname "$NATS_LOG")" "$(dirname "$NATS_PIDFILE")"
  local t0 i conf
  t0=$(now)
  # the token in a config file of mode 600, not on the command line
  conf=$NATS_STORE/risk-auth.conf
  (
    umask 077
    printf 'authorization { token: "%s" }\n' "$NATS_TOKEN" >"$conf"
  )
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile "$NATS_PIDFILE" \
    --exec "$NATS_BIN" -- -c "$conf" -a "$NATS_HOST" -p "$NATS_AUTH_PORT" -js -sd "$NATS_STORE" -l "$NATS_LOG" >&2
  for ((i = 0; i < 200; i++)); do
    if nats_auth_answers; then
      say "nats: token-protected server ready on $NATS_HOST:$NATS_AUTH_PORT after $(since "$t0")s"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$NATS_LOG" >&2 || true
  die "nats-server did not answer on $NATS_HOST:$NATS_AUTH_PORT within 20s (log $NATS_LOG)"
}

nats_auth_status() {
  if nats_auth_answers; then
    echo "nats   up    $NATS_HOST:$NATS_AUTH_PORT  JetStream, token"
    return 0
  fi
  echo "nats   down  $NATS_HOST:$NATS_AUTH_PORT  (token)"
  return 1
}

nats_status() {
  if nats_answers; then
    echo "nats   up    $NATS_HOST:$NATS_PORT  JetStream"
    return 0
  fi
  if tcp_open "$NATS_HOST" "$NATS_PORT"; then
    echo "nats   down  $NATS_HOST:$NATS_PORT  port open but no NATS INFO with JetStream"
    return 1
  fi
  echo "nats   down  $NATS_HOST:$NATS_PORT"
  return 1
}

# ---------------------------------------------------------------- commands

status_all() {
  local rc=0
  redis_status || rc=3
  redis_auth_status || rc=3
  nats_status || rc=3
  nats_auth_status || rc=3
  kafka_status || rc=3
  return $rc
}

usage() {
  sed -n '/^# usage:/,/^# environment:/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
  up)
    redis_start
    redis_auth_start
    nats_start
    nats_auth_start
    kafka_start
    status_all
    ;;
  down) kafka_stop ;;
  status) status_all ;;
  kafka-start) kafka_start ;;
  kafka-stop) kafka_stop ;;
  redis-start) redis_start ;;
  redis-stop) redis_stop ;;
  nats-start) nats_start ;;
  nats-stop) nats_stop ;;
  redis-auth-start) redis_auth_start ;;
  redis-auth-stop) redis_auth_stop ;;
  nats-auth-start) nats_auth_start ;;
  nats-auth-stop) nats_stop "$NATS_AUTH_PORT" ;;
  kafka-home)
    need_java
    kafka_fetch
    echo "$KAFKA_HOME"
    ;;
  kafka-class)
    [[ $# -gt 0 ]] || die "usage: $PROG kafka-class MAIN_CLASS [ARGS...]"
    kafka_java "$@"
    ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
