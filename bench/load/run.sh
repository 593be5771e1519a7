#!/usr/bin/env bash
# The whole-gateway load benchmark: wrk against a mock upstream on loopback, straight to it (the
# reference), through modelgate and through Portkey's gateway, side by side, for whole answers and for
# streams, at several connection counts. Reports requests/s, wrk's errors, the latency each gateway
# adds at p50 / p99 / p99.9 (its percentile minus the direct path's at the same point) and each
# gateway's peak resident memory, as a markdown table on stdout and in a file. bench/README.md has the
# method and the figures.
#
#   bench/load/run.sh [--seconds 10] [--warmup 2] [--connections "1 16 64 256"] [--modes "whole stream"]
#                     [--rounds 1] [--io-threads N] [--mock-threads 2] [--port-base 18181] [--nice 0]
#                     [--out FILE] [--rebuild] [--relay]
#
# With --rounds N, each point runs N times, the three paths taking turns (direct, modelgate, Portkey,
# direct, ...), and the table shows the median of each figure (peak memory: the highest; errors: all).
# The figures of every run are also written beside the table, as FILE with .tsv for .md. --nice N runs
# wrk, the mock and both gateways at that niceness (as root, say -10, so that builds sharing the machine
# take the CPU only when the benchmark leaves it idle); all of them alike, so no path is favoured.
# --relay adds, at 1 connection, a fourth path: a byte relay (bench/load/byte_relay.cpp) that copies
# bytes to the mock and does nothing else, the most any gateway's extra hop can carry on this machine.
#
# Installs what it needs (scripts/install-deps.sh --with-load-bench: wrk, Node.js, the pinned Portkey),
# builds the release preset when a binary is missing (--rebuild: always), and stops every process it
# started when it ends, however it ends.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=10
warmup=2
connections="1 16 64 256"
modes="whole stream"
rounds=1
io_threads=$(nproc)
mock_threads=2
port_base=18181
out=""
rebuild=false
niceness=0
relay=false
usage() { sed -n '9,11p' "$0" | sed 's/^#  *//' >&2; exit 2; }
while (($#)); do
  [[ $1 == --rebuild || $1 == --relay ]] || (($# >= 2)) || usage
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --io-threads) io_threads=$2; shift 2 ;;
    --mock-threads) mock_threads=$2; shift 2 ;;
    --port-base) port_base=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --rebuild) rebuild=true; shift ;;
    --relay) relay=true; shift ;;
    --nice) niceness=$2; shift 2 ;;
    *) usage ;;
  esac
done
for mode in $modes; do [[ $mode == whole || $mode == stream ]] || usage; done

mock_port=$port_base
modelgate_port=$((port_base + 1))
portkey_port=$((port_base + 2))
relay_port=$((port_base + 3))
modelgate_bin=$root/build/release/modelgate
mock_bin=$root/build/release/bench/mg_bench_load_mock
relay_bin=$root/build/release/bench/mg_bench_load_relay
portkey_dir=$root/bench/load/node_modules/@portkey-ai/gateway
lua=$root/bench/load/chat.lua
[[ -n $out ]] || out=$root/build/bench-load/results-$(date -u +%Y%m%dT%H%M%SZ).md

log() { echo "load: $*" >&2; }
at_niceness=(nice -n "$niceness")

# --- What it needs -------------------------------------------------------------------------------------
"$root/scripts/install-deps.sh" --with-load-bench
if $rebuild || [[ ! -x $modelgate_bin || ! -x $mock_bin ]]; then
  "$root/scripts/build.sh" release
fi
# The mock and the relay alone, in case the build tree predates them: they need neither the gateway nor the tests.
cmake --build "$root/build/release" --target mg_bench_load_mock mg_bench_load_relay >/dev/null

# --- Processes, all stopped on exit --------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/mg-load.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null; kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for port in $mock_port $modelgate_port $portkey_port $($relay && echo $relay_port); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "port $port is taken: stop what listens there or pass --port-base"
    exit 1
  fi
done

# Waits until `curl` gets an answer from URL, for at most 15 s.
wait_for() {
  local url=$1 name=$2 pid=$3 tries=0
  until curl -s -o /dev/null "$url"; do
    if ! kill -0 "$pid" 2>/dev/null; then log "$name exited at start:"; cat "$work/$name.log" >&2; exit 1; fi
    ((++tries > 150)) && { log "$name did not answer $url within 15 s"; exit 1; }
    sleep 0.1
  done
}

"${at_niceness[@]}" "$mock_bin" --port "$mock_port" --threads "$mock_threads" >"$work/mock.log" 2>&1 &
mock_pid=$!
pids+=("$mock_pid")
wait_for "http://127.0.0.1:$mock_port/" mock "$mock_pid"

# modelgate: one route, model mock-ok on the mock; access log, fake provider and local engine off.
cat >"$work/routes.csv" <<EOF
model,provider,upstream_model,usd_per_mtok_input,usd_per_mtok_output,context_length,quantization,published_ttft_ms,published_throughput_tok_s,supports_tools,supports_json,enabled,base_url,api_key_env
mock-ok,mock,mock-ok,0.1,0.1,32768,,,,true,true,true,http://127.0.0.1:$mock_port/v1,
EOF
"$modelgate_bin" catalogue --db "$work/modelgate.db" import "$work/routes.csv" >/dev/null
echo '{"access_log": "off", "fake_provider": {"enabled": false}, "local": {"enabled": false}}' >"$work/modelgate.json"
"${at_niceness[@]}" "$modelgate_bin" serve --listen "127.0.0.1:$modelgate_port" --db "$work/modelgate.db" --config "$work/modelgate.json" \
  --threads "$io_threads" >"$work/modelgate.log" 2>&1 &
modelgate_pid=$!
pids+=("$modelgate_pid")
wait_for "http://127.0.0.1:$modelgate_port/health" modelgate "$modelgate_pid"

# Portkey as its README starts it (node build/start-server.js), headless, in production mode, kept on
# loopback; it reaches the mock as the "openai" provider at a custom host.
NODE_ENV=production "${at_niceness[@]}" node --import "$root/bench/load/loopback-only.mjs" "$portkey_dir/build/start-server.js" \
  --port="$portkey_port" --headless >"$work/portkey.log" 2>&1 &
portkey_pid=$!
pids+=("$portkey_pid")
wait_for "http://127.0.0.1:$portkey_port/" portkey "$portkey_pid"
portkey_headers=("x-portkey-provider: openai" "x-portkey-custom-host: http://127.0.0.1:$mock_port/v1" "Authorization: Bearer sk-bench")

targets=(mock modelgate portkey)
declare -A port_of=([mock]=$mock_port [modelgate]=$modelgate_port [portkey]=$portkey_port [relay]=$relay_port)
declare -A pid_of=([mock]=$mock_pid [modelgate]=$modelgate_pid [portkey]=$portkey_pid)
if $relay; then
  "${at_niceness[@]}" "$relay_bin" --port "$relay_port" --upstream-port "$mock_port" >"$work/relay.log" 2>&1 &
  pid_of[relay]=$!
  pids+=("${pid_of[relay]}")
  wait_for "http://127.0.0.1:$relay_port/" relay "${pid_of[relay]}"
  targets+=(relay)
fi
# The paths measured at CONNS connections: the relay only at 1, where a hop's cost decides throughput.
targets_at() { local target; for target in "${targets[@]}"; do [[ $target != relay || $1 == 1 ]] && echo "$target"; done; return 0; }
extra_args() { [[ $1 == portkey ]] && printf '%s\n' "${portkey_headers[@]}"; return 0; }

# --- Each path answers correctly once --------------------------------------------------------------------
body_whole='{"model":"mock-ok","messages":[{"role":"user","content":"measure me"}]}'
body_stream='{"model":"mock-ok","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"measure me"}]}'
for target in "${targets[@]}"; do
  headers=(-H "Content-Type: application/json")
  while IFS= read -r header; do [[ -n $header ]] && headers+=(-H "$header"); done < <(extra_args "$target")
  url="http://127.0.0.1:${port_of[$target]}/v1/chat/completions"
  answer=$(curl -s -w '\n%{http_code}' "${headers[@]}" -d "$body_whole" "$url")
  if [[ ${answer##*$'\n'} != 200 || $answer != *'"content":"Hi from the mock"'* || $answer != *'"total_tokens":15'* ]]; then
    log "$target: the whole answer is wrong: $answer"; exit 1
  fi
  answer=$(curl -s -N -w '\n%{http_code}' "${headers[@]}" -d "$body_stream" "$url")
  if [[ ${answer##*$'\n'} != 200 || $answer != *'"content":"Hi "'* || $answer != *'"content":"mock"'* ||
        $answer != *'"total_tokens":15'* || $answer != *'data: [DONE]'* ]]; then
    log "$target: the stream is wrong: $answer"; exit 1
  fi
done
log "each path (${targets[*]}) answered a whole request and a stream correctly"

# --- The runs --------------------------------------------------------------------------------------------
# A point's peak resident memory: the process's VmHWM, reset as the point starts (5 into clear_refs)
# and read when it ends, so nothing runs beside wrk meanwhile. (A loop sampling VmRSS forked `sleep`
# five times a second; on 2 cores those forks stalled every path: the direct path's p99 at 1
# connection went from about 0.1 to 1.6 ms.) Where the reset is refused, the figure is the peak so far.
reset_peak_rss() {
  echo 5 2>/dev/null >"/proc/$1/clear_refs" || log "could not reset the peak RSS of process $1: its figure is its peak so far"
}
peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# While one path is measured the other gateways are stopped (SIGSTOP), so that work one of them defers
# cannot land in another's figures: Node.js runs a garbage collection 20 to 30 s after a burst of load
# ends, 200 to 300 ms of CPU at once, which otherwise fell on whichever path ran then (modelgate's p99
# at 1 connection went from about 0.3 to 1 to 3 ms in the rounds after Portkey's). A gateway's own
# deferred work then runs when it is resumed, in its warm-up.
gateways_besides() { local target; for target in "${!pid_of[@]}"; do [[ $target != mock && $target != "$1" ]] && echo "${pid_of[$target]}"; done; return 0; }
stop_gateways_besides() { kill -STOP $(gateways_besides "$1"); }
resume_gateways_besides() { kill -CONT $(gateways_besides "$1"); }

declare -A result
fields="rps p50_us p99_us p999_us connect read write status timeout rss_kib"
# Runs wrk on TARGET in MODE with CONNS connections for SECONDS; stores every RESULT field as
# result[target,mode,conns,round,field], and the target's peak RSS as ...,rss_kib.
measure() {
  local target=$1 mode=$2 conns=$3 round=$4 duration=$5 threads=$(($3 < 2 ? $3 : 2)) extra=() line field
  while IFS= read -r line; do [[ -n $line ]] && extra+=("$line"); done < <(extra_args "$target")
  stop_gateways_besides "$target"
  reset_peak_rss "${pid_of[$target]}"
  if ! line=$("${at_niceness[@]}" wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 10s -s "$lua" "http://127.0.0.1:${port_of[$target]}" -- "$mode" "${extra[@]}" |
              grep '^RESULT '); then
    log "wrk gave no result for $target ($mode, $conns connections)"
    exit 1
  fi
  resume_gateways_besides "$target"
  for field in ${line#RESULT }; do result[$target,$mode,$conns,$round,${field%%=*}]=${field#*=}; done
  result[$target,$mode,$conns,$round,rss_kib]=$(peak_rss_kib "${pid_of[$target]}")
}

# The rounds' figures of one point folded into result[target,mode,conns,field]: the median, the highest
# peak memory, the sum of the errors.
fold() {
  local target=$1 mode=$2 conns=$3 field round values
  for field in $fields; do
    values=()
    for ((round = 1; round <= rounds; round++)); do values+=("${result[$target,$mode,$conns,$round,$field]}"); done
    case $field in
      rss_kib) result[$target,$mode,$conns,$field]=$(printf '%s\n' "${values[@]}" | sort -n | tail -1) ;;
      connect | read | write | status | timeout)
        result[$target,$mode,$conns,$field]=$(printf '%s\n' "${values[@]}" | awk '{ s += $1 } END { print s }') ;;
      *) result[$target,$mode,$conns,$field]=$(printf '%s\n' "${values[@]}" | sort -g |
           awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print (m == int(m)) ? m : sprintf("%.1f", m) }') ;;
    esac
  done
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for mode in $modes; do
  for conns in $connections; do
    for ((round = 1; round <= rounds; round++)); do
      for target in $(targets_at "$conns"); do
        log "$mode, $conns connections, round $round of $rounds: $target"
        ((warmup > 0)) && measure "$target" "$mode" "$conns" 0 "$warmup"
        measure "$target" "$mode" "$conns" "$round" "$seconds"
      done
    done
    for target in $(targets_at "$conns"); do fold "$target" "$mode" "$conns"; done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- The table -------------------------------------------------------------------------------------------
ms() { awk -v us="$1" 'BEGIN { v = us / 1000; printf (v < 10 && v > -10) ? "%.2f" : "%.0f", v }'; }
added() { awk -v g="${result[$1,$2,$3,$4]}" -v d="${result[mock,$2,$3,$4]}" 'BEGIN { print g - d }'; }
errors() {
  local sum=0 field
  for field in connect read write status timeout; do sum=$((sum + result[$1,$2,$3,$field])); done
  if ((sum == 0)); then echo 0; return; fi
  local text=""
  for field in connect read write status timeout; do
    ((result[$1,$2,$3,$field])) && text+="${text:+ }$field ${result[$1,$2,$3,$field]}"
  done
  echo "$text"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0 || a <= 0) print "n/a"; else printf "%.1fx", a / b }'; }
# Portkey's added latency over modelgate's; where modelgate's p99 is not above the direct path's it
# added nothing measurable, which no ratio expresses.
added_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0 && a > 0) print "none added"; else if (b <= 0 || a <= 0) print "n/a"; else printf "%.1fx", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
# TARGET's highest peak memory over every point, in MiB.
run_peak_mib() {
  local target=$1 peak=0 key value
  for key in "${!result[@]}"; do
    [[ $key == "$target,"*",rss_kib" ]] || continue
    value=${result[$key]}
    ((value > peak)) && peak=$value
  done
  mib "$peak"
}

mkdir -p "$(dirname "$out")"
{
  printf 'target\tmode\tconnections\tround'; printf '\t%s' $fields; echo
  for mode in $modes; do
    for conns in $connections; do
      for ((round = 1; round <= rounds; round++)); do
        for target in $(targets_at "$conns"); do
          printf '%s\t%s\t%s\t%s' "$target" "$mode" "$conns" "$round"
          for field in $fields; do printf '\t%s' "${result[$target,$mode,$conns,$round,$field]}"; done
          echo
        done
      done
    done
  done
} >"${out%.md}.tsv"
{
  echo "Whole-gateway load, $(date -u '+%Y-%m-%d %H:%M UTC'): $seconds s per point after ${warmup} s of warm-up," \
       "$([[ $rounds == 1 ]] && echo "one round" || echo "the median of $rounds rounds");" \
       "wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}') with threads = min(connections, 2);" \
       "$(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo))."
  echo "$("$modelgate_bin" version 2>&1 | head -1) at $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- . 2>/dev/null || echo ' plus uncommitted changes')," \
       "$io_threads I/O threads; Portkey $(node -p "require('$portkey_dir/package.json').version") on Node $(node -v)" \
       "(@hono/node-server $(node -p "require('$root/bench/load/node_modules/@hono/node-server/package.json').version"));" \
       "mock upstream: $mock_threads threads$( ((niceness != 0)) && echo "; all at nice $niceness")."
  echo "Throughput in requests/s; latency in ms, from wrk (send to the last byte of the answer); added = the" \
       "gateway's percentile minus the direct path's; RSS: the peak during the point (VmHWM, reset as it starts), MiB."
  echo
  echo "| mode | conns | direct req/s | modelgate req/s | Portkey req/s | throughput mg/Portkey | direct p50 / p99 / p99.9 | modelgate added p50 / p99 / p99.9 | Portkey added p50 / p99 / p99.9 | added p99 Portkey/mg | RSS mg / Portkey | errors direct / mg / Portkey |$($relay && echo " byte relay req/s |")"
  echo "|---|---:|---:|---:|---:|---:|---|---|---|---:|---|---|$($relay && echo "---:|")"
  for mode in $modes; do
    for conns in $connections; do
      row="| $mode | $conns"
      for target in mock modelgate portkey; do row+=" | $(printf '%.0f' "${result[$target,$mode,$conns,rps]}")"; done
      row+=" | **$(ratio "${result[modelgate,$mode,$conns,rps]}" "${result[portkey,$mode,$conns,rps]}")**"
      row+=" | $(ms "${result[mock,$mode,$conns,p50_us]}") / $(ms "${result[mock,$mode,$conns,p99_us]}") / $(ms "${result[mock,$mode,$conns,p999_us]}")"
      for target in modelgate portkey; do
        row+=" | $(ms "$(added $target "$mode" "$conns" p50_us)") / $(ms "$(added $target "$mode" "$conns" p99_us)") / $(ms "$(added $target "$mode" "$conns" p999_us)")"
      done
      row+=" | **$(added_ratio "$(added portkey "$mode" "$conns" p99_us)" "$(added modelgate "$mode" "$conns" p99_us)")**"
      row+=" | $(mib "${result[modelgate,$mode,$conns,rss_kib]}") / $(mib "${result[portkey,$mode,$conns,rss_kib]}")"
      row+=" | $(errors mock "$mode" "$conns") / $(errors modelgate "$mode" "$conns") / $(errors portkey "$mode" "$conns") |"
      if $relay; then row+=" $( ((conns == 1)) && printf '%.0f' "${result[relay,$mode,$conns,rps]}" || echo "-") |"; fi
      echo "$row"
    done
  done
  echo
  echo "Peak resident memory over the run (the highest point's): modelgate $(run_peak_mib modelgate) MiB, Portkey $(run_peak_mib portkey) MiB, mock $(run_peak_mib mock) MiB." \
       "Load average (1, 5, 15 min) before the runs: $load_before; after: $load_after."
} | tee "$out"
log "written to $out and ${out%.md}.tsv"
