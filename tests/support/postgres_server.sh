#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL server for the tests: a fresh cluster in a temporary folder,
# listening on a free loopback port, trusting local connections, without fsync (a test's data need not
# survive a power cut) unless MODELGATE_POSTGRES_DURABLE=1. PostgreSQL refuses to run as root: as root it runs as Debian's `postgres` user.
#
#   postgres_server.sh start STATE_FILE   writes "dir=..." and "url=postgresql://..." into STATE_FILE
#   postgres_server.sh restart STATE_FILE stops the server (dropping every connection) and starts it again
#   postgres_server.sh pause STATE_FILE   stops the server, keeping its data; resume starts it again
#   postgres_server.sh stop STATE_FILE    stops the server and deletes its folder
set -euo pipefail
action=${1:?usage: $0 start|restart|pause|resume|stop STATE_FILE}
state_file=${2:?usage: $0 start|stop STATE_FILE}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x "$bin/pg_ctl" ]] || { echo "postgres_server: PostgreSQL is not installed (scripts/install-deps.sh installs it)" >&2; exit 1; }

as_server_user() {
  if [[ "$(id -u)" -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
  [[ -f "$state_file" ]] || return 0
  local dir
  dir=$(sed -n 's/^dir=//p' "$state_file")
  if [[ -n "$dir" && -d "$dir/data" ]]; then
    as_server_user "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  [[ -n "$dir" ]] && rm -rf "$dir"
  rm -f "$state_file"
}

# Starts the cluster in DIR on PORT. MODELGATE_POSTGRES_DURABLE=1 keeps PostgreSQL's own durability
# settings (fsync, synchronous commit), for benchmarks.
start_server() {
  local speed="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [[ ${MODELGATE_POSTGRES_DURABLE:-0} == 1 ]] && speed=""
  as_server_user "$bin/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 30 start \
    -o "-p $2 -k $1 -c listen_addresses=127.0.0.1 $speed -c max_connections=400" >/dev/null
}

start() {
  stop
  local dir port
  dir=$(mktemp -d /tmp/modelgate-postgres.XXXXXX)
  chmod 755 "$dir"
  [[ "$(id -u)" -eq 0 ]] && chown postgres: "$dir"
  as_server_user "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  for attempt in 1 2 3; do
    port=$(free_port)
    if start_server "$dir" "$port"; then
      printf 'dir=%s\nurl=postgresql://postgres@127.0.0.1:%s/postgres\n' "$dir" "$port" >"$state_file"
      return 0
    fi
  done
  cat "$dir/server.log" >&2
  exit 1
}

# pg_ctl restart remembers the options the server last started with (postmaster.opts): the same port.
control() {
  local dir
  dir=$(sed -n 's/^dir=//p' "$state_file")
  as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 30 "$1" >/dev/null
}

case $action in
  start) start ;;
  restart) control restart ;;
  pause) control stop ;;
  resume) start_server "$(sed -n 's/^dir=//p' "$state_file")" "$(sed -n 's/^url=.*:\([0-9]*\)\/.*/\1/p' "$state_file")" ;;
  stop) stop ;;
  *) echo "usage: $0 start|restart|pause|resume|stop STATE_FILE" >&2; exit 2 ;;
esac
