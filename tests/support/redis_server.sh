#!/usr/bin/env bash
# Starts and stops a throwaway Redis server for the tests, in a temporary folder on a free loopback port,
# without persistence.
#
#   redis_server.sh start STATE_FILE    writes "dir=...", "port=..." and "url=redis://..." into STATE_FILE
#   redis_server.sh pause STATE_FILE    stops the server (its data is gone: no persistence)
#   redis_server.sh resume STATE_FILE   starts it again on the same port
#   redis_server.sh freeze STATE_FILE   stops the process (SIGSTOP): connections open, nothing answered
#   redis_server.sh thaw STATE_FILE     lets it go on (SIGCONT), its data intact
#   redis_server.sh stop STATE_FILE     stops it and deletes its folder
set -euo pipefail
action=${1:?usage: $0 start|pause|resume|freeze|thaw|stop STATE_FILE}
state_file=${2:?usage: $0 start|pause|resume|freeze|thaw|stop STATE_FILE}
command -v redis-server >/dev/null || { echo "redis_server: redis-server is not installed (scripts/install-deps.sh installs it)" >&2; exit 1; }

field() { sed -n "s/^$1=//p" "$state_file"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts redis-server in DIR on PORT and waits until it answers.
run_server() {
  redis-server --bind 127.0.0.1 --port "$2" --save '' --appendonly no --daemonize yes --dir "$1" \
    --pidfile "$1/redis.pid" --logfile "$1/redis.log" >/dev/null
  for _ in $(seq 100); do
    redis-cli -p "$2" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.05
  done
  cat "$1/redis.log" >&2
  return 1
}

halt() {
  local dir port
  dir=$(field dir) port=$(field port)
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  for _ in $(seq 100); do
    [[ -f "$dir/redis.pid" ]] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null || return 0
    sleep 0.05
  done
}

case $action in
  start)
    dir=$(mktemp -d /tmp/modelgate-redis.XXXXXX)
    port=$(free_port)
    run_server "$dir" "$port"
    printf 'dir=%s\nport=%s\nurl=redis://127.0.0.1:%s\n' "$dir" "$port" "$port" >"$state_file"
    ;;
  pause) halt ;;
  freeze) kill -STOP "$(cat "$(field dir)/redis.pid")" ;;
  thaw) kill -CONT "$(cat "$(field dir)/redis.pid")" ;;
  resume) run_server "$(field dir)" "$(field port)" ;;
  stop)
    [[ -f "$state_file" ]] || exit 0
    halt
    rm -rf "$(field dir)"
    rm -f "$state_file"
    ;;
  *) echo "usage: $0 start|pause|resume|freeze|thaw|stop STATE_FILE" >&2; exit 2 ;;
esac
