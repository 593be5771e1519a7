#!/usr/bin/env bash
# A modelgate fleet on one machine, to try: PostgreSQL, Redis, three replicas and HAProxy in front, all on
# loopback ports, all under one folder. The replicas share the catalogue, keys and ledger (PostgreSQL)
# and keys' budgets and rates (Redis); HAProxy (deploy/haproxy.cfg) spreads clients over them.
#
#   scripts/cluster.sh start [--port 8080] [--dir /tmp/modelgate-cluster]   prints the endpoint and admin key
#   scripts/cluster.sh stop [--dir /tmp/modelgate-cluster]                  stops everything, deletes the folder
#
# PostgreSQL runs as Debian's `postgres` user when started as root (it refuses root).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
action=${1:-}
shift || true
port=8080
dir=/tmp/modelgate-cluster
while (($#)); do
  (($# >= 2)) || { sed -n '6,7p' "$0" >&2; exit 2; }
  case $1 in
    --port) port=$2 ;;
    --dir) dir=$2 ;;
    *) sed -n '6,7p' "$0" >&2; exit 2 ;;
  esac
  shift 2
done
support=$root/tests/support
bin=$root/build/release/modelgate
log() { echo "cluster: $*" >&2; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_for() {  # url, log file
  for _ in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  log "$1 did not answer; its log:"
  tail -20 "$2" >&2
  return 1
}

stop() {
  [[ -d $dir ]] || { log "nothing runs in $dir"; return 0; }
  [[ -f $dir/haproxy.pid ]] && kill "$(cat "$dir/haproxy.pid")" 2>/dev/null || true
  for pid_file in "$dir"/replica*.pid; do
    [[ -f $pid_file ]] || continue
    kill -TERM "$(cat "$pid_file")" 2>/dev/null || true  # drains: what is in flight finishes, its ledger rows are written
  done
  for pid_file in "$dir"/replica*.pid; do
    [[ -f $pid_file ]] || continue
    while kill -0 "$(cat "$pid_file")" 2>/dev/null; do sleep 0.1; done
  done
  "$support/redis_server.sh" stop "$dir/redis.state" || true
  "$support/postgres_server.sh" stop "$dir/postgres.state" || true
  rm -rf "$dir"
  log "stopped, and $dir deleted"
}

start() {
  [[ -e $dir ]] && { log "$dir exists: stop that cluster first (scripts/cluster.sh stop --dir $dir)"; exit 1; }
  "$root/scripts/install-deps.sh"
  [[ -x $bin ]] || "$root/scripts/build.sh" release
  mkdir -p "$dir"
  MODELGATE_POSTGRES_DURABLE=1 "$support/postgres_server.sh" start "$dir/postgres.state"
  "$support/redis_server.sh" start "$dir/redis.state"
  local db redis admin_key
  db=$(sed -n 's/^url=//p' "$dir/postgres.state")
  redis=$(sed -n 's/^url=//p' "$dir/redis.state")
  admin_key=mga_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  cat >"$dir/replica.json" <<JSON
{"db": "$db", "redis_url": "$redis", "admin_key": "$admin_key", "shared_state_failure": "open", "catalogue_poll_interval_ms": 1000}
JSON
  chmod 600 "$dir/replica.json"
  local replica replica_port
  for replica in 1 2 3; do
    replica_port=$(free_port)
    mkdir -p "$dir/replica$replica"
    "$bin" serve --listen "127.0.0.1:$replica_port" --config "$dir/replica.json" --state-dir "$dir/replica$replica" \
      >"$dir/replica$replica.log" 2>&1 &
    echo $! >"$dir/replica$replica.pid"
    export "MODELGATE_REPLICA$replica=127.0.0.1:$replica_port"
    wait_for "http://127.0.0.1:$replica_port/health" "$dir/replica$replica.log"
  done
  export MODELGATE_LISTEN=127.0.0.1:$port
  haproxy -f "$root/deploy/haproxy.cfg" -D -p "$dir/haproxy.pid" >"$dir/haproxy.log" 2>&1
  wait_for "http://127.0.0.1:$port/ready" "$dir/haproxy.log"
  cat <<TEXT
modelgate fleet: http://127.0.0.1:$port/v1 (HAProxy) -> replicas at $MODELGATE_REPLICA1, $MODELGATE_REPLICA2, $MODELGATE_REPLICA3
  database   $db
  redis      $redis
  admin key  $admin_key   (also in $dir/replica.json)
  logs       $dir/*.log
A client key shared by the whole fleet:
  $bin keys --db '$db' create --name team-a --budget-day 5 --rpm 600
Stop it all: scripts/cluster.sh stop --dir $dir
TEXT
}

case $action in
  start) start ;;
  stop) stop ;;
  *) sed -n '6,7p' "$0" >&2; exit 2 ;;
esac
