#!/usr/bin/env bash
# profile.sh MODE TRANSPORT N RATE [SECONDS]: the Sockline server of the
# comparison (benchmarks/compare/servers/sockline) pinned to CPU 0 under
# sockline bench on CPU 1, as compare runs it, with a CPU profile and the
# server's system calls (perf stat, when it can trace) over SECONDS (10).
#   MODE broadcast: N subscribers, RATE broadcasts a second
#   MODE echo:      N sessions sending RATE messages a second in all
# Writes $OUT (default /tmp/sockline-profile)/MODE-TRANSPORT-N-RATE.{prof,top,syscalls}.
set -euo pipefail
mode=$1 tr=$2 n=$3 rate=$4 secs=${5:-10}
out=${OUT:-/tmp/sockline-profile}
cd "$(dirname "$0")/../.."
mkdir -p "$out"
go build -o "$out/server" ./benchmarks/compare/servers/sockline
go build -o "$out/sockline" ./cmd/sockline
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free) pport=$(free)
# taskset execs its command, so $! is the server's own pid (perf counts it).
pin=()
command -v taskset >/dev/null && pin=(taskset -c)
${pin[@]+"${pin[@]}" 0} "$out/server" -addr "127.0.0.1:$port" -pprof "127.0.0.1:$pport" >"$out/server.log" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/echo/info" >/dev/null && break; sleep 0.1; done
path=/echo
[ "$mode" = broadcast ] && path=/broadcast
${pin[@]+"${pin[@]}" 1} "$out/sockline" bench -mode "$mode" -t "$tr" -n "$n" -rate "$rate" -d "$((secs + 8))s" "http://127.0.0.1:$port$path" >"$out/bench.json" 2>"$out/bench.log" &
bench=$!
sleep 5 # every session open, the rate steady
name="$mode-$tr-$n-$rate"
if command -v perf >/dev/null; then
  perf stat -x, -e raw_syscalls:sys_enter -p "$srv" -o "$out/$name.syscalls" -- sleep "$secs" &
fi
curl -sf -o "$out/$name.prof" "http://127.0.0.1:$pport/debug/pprof/profile?seconds=$secs"
wait $bench || true
go tool pprof -top -nodecount=40 "$out/server" "$out/$name.prof" >"$out/$name.top" 2>/dev/null
echo "== $name: $out/$name.top"
head -50 "$out/$name.top"
[ -f "$out/$name.syscalls" ] && grep raw_syscalls "$out/$name.syscalls" || true
grep -o '"msgs_per_s":[0-9.]*\|"p50_ms":[0-9.]*\|"p99_ms":[0-9.]*\|"received":[0-9]*' "$out/bench.json" | tr '\n' ' '
echo
