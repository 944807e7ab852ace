#!/usr/bin/env bash
# Bytes on the wire per host per day, and backlog drain rate.
#   - schoolwatch: the agent (release) reports through a byte-counting relay
#     to the collector over HTTPS (keep-alive, gzip), N reports at an
#     accelerated interval; both directions counted, TLS and HTTP included.
#   - node_exporter: scraped N times with gzip (Accept-Encoding: gzip)
#     through the same kind of relay, plain HTTP (TLS would add more).
# Per day = bytes per report (or scrape) x 1440, the default one-minute
# interval. Then a 3-day backlog (4,320 reports) made while the collector
# is down, drained once it is back: reports/s.
# Goals: <= 1/10 of node_exporter's bytes per host per day; a 3-day
# backlog drains in under a minute on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
N=${N:-200}

command -v prometheus-node-exporter >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-node-exporter >/dev/null
}
cargo build --release -p schoolwatch-collector -p schoolwatch-agent --bins --quiet
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cport=$(free_port)
setup_collector "$work" "$cport" w-1 4g 25
sw() { "$target/schoolwatch-collector" --config "$work/collector.toml" "$@"; }
# Background processes are started directly (not through the functions), so
# that $! is their PID and cleanup stops them.
start_collector() {
  "$target/schoolwatch-collector" --config "$work/collector.toml" serve 2>>"$work/collector.log" &
  collector=$!; pids+=("$collector")
  for _ in $(seq 100); do curl -sf --cacert "$work/tls/ca.pem" "https://127.0.0.1:$cport/healthz" >/dev/null && break; sleep 0.1; done
}
start_collector
rport=$(free_port)
python3 bench/relay.py "$rport" "$cport" "$work/sw.count" &
pids+=("$!")
for _ in $(seq 100); do [ -f "$work/sw.count" ] && break; sleep 0.1; done
agent_args=(--config /nonexistent/agent.toml --state "$work/agent" --log-level error)
agent() { "$target/schoolwatch-agent" "${agent_args[@]}" "$@"; }
agent enroll --collector "https://127.0.0.1:$rport" --token "$(sw token create --school w-1 2>/dev/null)" --ca "$work/tls/ca.pem" >/dev/null
read -r up0 down0 < "$work/sw.count"
"$target/schoolwatch-agent" "${agent_args[@]}" run --interval 100ms &
a=$!; pids+=("$a")
while [ "$(cat "$work/agent/sequence" 2>/dev/null || echo 0)" -lt "$N" ]; do sleep 0.2; done
kill -TERM "$a"; wait "$a" 2>/dev/null || true
sent=$(cat "$work/agent/sequence")
sleep 0.5
read -r up1 down1 < "$work/sw.count"

# node_exporter, default collectors, scraped with gzip.
nport=$(free_port); nrport=$(free_port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$nport" >/dev/null 2>&1 &
pids+=("$!")
python3 bench/relay.py "$nrport" "$nport" "$work/ne.count" &
pids+=("$!")
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$nrport/metrics" && break; sleep 0.1; done
read -r nup0 ndown0 < "$work/ne.count"
for _ in $(seq "$N"); do curl -sf -H 'Accept-Encoding: gzip' -o /dev/null "http://127.0.0.1:$nrport/metrics"; done
sleep 0.5
read -r nup ndown < "$work/ne.count"
nup=$((nup - nup0)); ndown=$((ndown - ndown0))

# A 3-day backlog, made while the collector is down, then drained.
kill "$collector"; wait "$collector" 2>/dev/null || true
"$target/schoolwatch-agent" "${agent_args[@]}" run --interval 2ms &
a=$!; pids+=("$a")
backlog_from=$(cat "$work/agent/sequence")
while [ $(( $(cat "$work/agent/sequence") - backlog_from )) -lt 4320 ]; do sleep 0.2; done
kill -TERM "$a"; wait "$a" 2>/dev/null || true
backlog=$(( $(cat "$work/agent/sequence") - backlog_from ))
start_collector
t0=$(date +%s.%N)
"$target/schoolwatch-agent" "${agent_args[@]}" run --interval 60s &
a=$!; pids+=("$a")
target_seq=$(cat "$work/agent/sequence")
while true; do
  last=$(curl -sf --cacert "$work/tls/ca.pem" "https://127.0.0.1:$cport/metrics" | awk '/^schoolwatch_host_reports_total/{print $2}' || true)
  [ "${last:-0}" -ge "$target_seq" ] && break
  sleep 0.05
done
t1=$(date +%s.%N)
kill -TERM "$a"; wait "$a" 2>/dev/null || true

out=$(mktemp)
python3 - "$sent" "$up0" "$down0" "$up1" "$down1" "$N" "$nup" "$ndown" "$backlog" "$t0" "$t1" "$(prometheus-node-exporter --version 2>&1 | head -1)" > "$out" <<'PY'
import sys
sent, up0, down0, up1, down1, n, nup, ndown, backlog = map(int, sys.argv[1:10])
t0, t1, nev = float(sys.argv[10]), float(sys.argv[11]), sys.argv[12]
sw = ((up1 - up0) + (down1 - down0)) / sent
ne = (nup + ndown) / n
print("## Bytes on the wire and backlog drain (`bench/wire.sh`)\n")
print(f"{sent} agent reports over HTTPS (keep-alive, gzip) and {n} gzip scrapes of node_exporter (default collectors, plain HTTP; {nev}), both through a byte-counting relay, both directions. Per day at the default one-minute interval (x1440).\n")
print("| | schoolwatch agent | node_exporter scrape | ratio |")
print("|---|---|---|---|")
print(f"| bytes per report / scrape | {sw:.0f} | {ne:.0f} | {sw/ne:.3f} |")
print(f"| bytes per host per day | {sw*1440/1e6:.2f} MB | {ne*1440/1e6:.2f} MB | {sw/ne:.3f} |")
print(f"| per 30-day month on 4G | {sw*1440*30/1e6:.0f} MB | {ne*1440*30/1e6:.0f} MB | |")
print(f"\nBacklog: {backlog} reports (3 days at one a minute) queued while the collector was down, drained in {t1-t0:.1f} s once it came back: {backlog/(t1-t0):.0f} reports/s.")
print("Goals: <= 0.1 of node_exporter's bytes; a 3-day backlog drained in under 60 s.")
print("Not counted: TLS handshakes on reconnection (a NAT timeout on a 4G link forces one; ~5 KB each).")
print("Not fully counted: at the real one-minute interval every report carries a probe round of the collector (one target, a few dozen bytes gzipped) and an hourly security section; at this accelerated interval they ride only a few reports.")
PY
cat "$out"
write_section wire "$out"
rm -f "$out"
