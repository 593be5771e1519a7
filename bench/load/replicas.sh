#!/usr/bin/env bash
# One replica's cost of sharing state: wrk against the mock upstream straight (the reference), through a
# modelgate on SQLite alone, and through a modelgate on PostgreSQL + Redis (the fleet's setup), side by
# side in one run, the three paths taking turns each round. Both gateways serve the same client key with
# a budget and a rate limit, so every request is checked (the fleet's in Redis, one round trip) and
# written to the ledger. PostgreSQL keeps its durability settings (fsync on). Prints a markdown table:
# requests/s, p50 / p99 and the p99 each gateway adds, and the fleet's throughput against SQLite's.
#
#   bench/load/replicas.sh [--seconds 10] [--warmup 2] [--connections 16] [--rounds 3] [--io-threads N]
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=10 warmup=2 connections=16 rounds=3 io_threads=$(nproc)
while (($#)); do
  (($# >= 2)) || { sed -n '9p' "$0" >&2; exit 2; }
  case $1 in
    --seconds) seconds=$2 ;;
    --warmup) warmup=$2 ;;
    --connections) connections=$2 ;;
    --rounds) rounds=$2 ;;
    --io-threads) io_threads=$2 ;;
    *) sed -n '9p' "$0" >&2; exit 2 ;;
  esac
  shift 2
done

bin=$root/build/release/modelgate
mock_bin=$root/build/release/bench/mg_bench_load_mock
log() { echo "replicas: $*" >&2; }
command -v wrk >/dev/null || "$root/scripts/install-deps.sh" --with-load-bench  # wrk
[[ -x $bin && -x $mock_bin ]] || "$root/scripts/build.sh" release
cmake --build "$root/build/release" --target modelgate mg_bench_load_mock >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/mg-replicas.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$root/tests/support/postgres_server.sh" stop "$work/postgres.state" || true
  "$root/tests/support/redis_server.sh" stop "$work/redis.state" || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {
  local tries=0
  until curl -s -o /dev/null "$1"; do ((++tries > 150)) && { log "$1 did not answer"; cat "$work"/*.log >&2; exit 1; }; sleep 0.1; done
}

MODELGATE_POSTGRES_DURABLE=1 "$root/tests/support/postgres_server.sh" start "$work/postgres.state"
"$root/tests/support/redis_server.sh" start "$work/redis.state"
postgres_url=$(sed -n 's/^url=//p' "$work/postgres.state")
redis_url=$(sed -n 's/^url=//p' "$work/redis.state")

declare -A port_of=([direct]=$(free_port) [sqlite]=$(free_port) [fleet]=$(free_port))
"$mock_bin" --port "${port_of[direct]}" --threads 2 >"$work/mock.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:${port_of[direct]}/"

cat >"$work/routes.csv" <<CSV
model,provider,upstream_model,usd_per_mtok_input,usd_per_mtok_output,context_length,quantization,published_ttft_ms,published_throughput_tok_s,supports_tools,supports_json,enabled,base_url,api_key_env
mock-ok,mock,mock-ok,0.1,0.1,32768,,,,true,true,true,http://127.0.0.1:${port_of[direct]}/v1,
CSV
declare -A db_of=([sqlite]=$work/modelgate.db [fleet]=$postgres_url) key_of
for gateway in sqlite fleet; do
  "$bin" catalogue --db "${db_of[$gateway]}" import "$work/routes.csv" >/dev/null
  key_of[$gateway]=$("$bin" keys --db "${db_of[$gateway]}" create --name bench --budget-day 1000000 --rpm 100000000 | grep '^mgk_')
done
echo '{"access_log": "off", "fake_provider": {"enabled": false}, "local": {"enabled": false}}' >"$work/sqlite.json"
echo "{\"access_log\": \"off\", \"fake_provider\": {\"enabled\": false}, \"local\": {\"enabled\": false}, \"redis_url\": \"$redis_url\"}" >"$work/fleet.json"
for gateway in sqlite fleet; do
  "$bin" serve --listen "127.0.0.1:${port_of[$gateway]}" --db "${db_of[$gateway]}" --state-dir "$work" --config "$work/$gateway.json" \
    --threads "$io_threads" >"$work/$gateway.log" 2>&1 &
  pids+=($!)
  wait_for "http://127.0.0.1:${port_of[$gateway]}/health"
done

declare -A result
measure() {  # target round duration
  local target=$1 auth=() line field
  [[ $target != direct ]] && auth=("Authorization: Bearer ${key_of[$target]}")
  line=$(wrk -t2 -c"$connections" -d"${3}s" --timeout 10s -s "$root/bench/load/chat.lua" "http://127.0.0.1:${port_of[$target]}" -- whole "${auth[@]}" |
         grep '^RESULT ') || { log "wrk gave no result for $target"; exit 1; }
  for field in ${line#RESULT }; do result[$target,$2,${field%%=*}]=${field#*=}; done
  local errors=$((result[$target,$2,connect] + result[$target,$2,read] + result[$target,$2,status] + result[$target,$2,timeout]))
  ((errors == 0)) || { log "$target: $errors errors in round $2"; exit 1; }
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for ((round = 1; round <= rounds; round++)); do
  for target in direct sqlite fleet; do
    log "round $round of $rounds: $target"
    measure "$target" 0 "$warmup"
    measure "$target" "$round" "$seconds"
  done
done
declare -A folded
for target in direct sqlite fleet; do
  for field in rps p50_us p99_us; do
    folded[$target,$field]=$(for ((round = 1; round <= rounds; round++)); do echo "${result[$target,$round,$field]}"; done | median)
  done
done
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
added() { awk -v a="${folded[$1,p99_us]}" -v b="${folded[direct,p99_us]}" 'BEGIN { printf "%.2f", (a - b) / 1000 }'; }
rows=$(curl -s "http://127.0.0.1:${port_of[fleet]}/v1/usage" -H "Authorization: Bearer ${key_of[fleet]}" | python3 -c 'import json,sys; print(sum(r["requests"] for r in json.load(sys.stdin)["data"]))' 2>/dev/null || echo "?")
echo "One replica at $connections connections, whole answers, the median of $rounds rounds of $seconds s; $(nproc) cores," \
     "$io_threads I/O threads; modelgate at $(git -C "$root" rev-parse --short HEAD); PostgreSQL and Redis on the same machine."
echo
echo "| path | req/s | p50 ms | p99 ms | added p99 ms |"
echo "|---|---:|---:|---:|---:|"
for target in direct sqlite fleet; do
  name=$([[ $target == direct ]] && echo "mock upstream, direct" || ([[ $target == sqlite ]] && echo "modelgate, SQLite alone" || echo "modelgate, PostgreSQL + Redis"))
  echo "| $name | $(printf '%.0f' "${folded[$target,rps]}") | $(ms "${folded[$target,p50_us]}") | $(ms "${folded[$target,p99_us]}") | $([[ $target == direct ]] && echo "-" || added "$target") |"
done
echo
echo "PostgreSQL + Redis / SQLite alone, throughput: $(awk -v a="${folded[fleet,rps]}" -v b="${folded[sqlite,rps]}" 'BEGIN { printf "%.2fx", a / b }');" \
     "ledger rows in PostgreSQL so far: $rows."
