#!/usr/bin/env bash
# Agent footprint vs node_exporter, same machine, same minute:
#   - schoolwatch-agent sampling every second for DURATION seconds;
#   - node_exporter (default collectors, as a user would run it) scraped
#     every second for DURATION seconds.
# Reports peak RSS and CPU seconds per sample/scrape, and the ratios,
# into bench/RESULTS.md. Goal: both ratios <= 0.5.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${DURATION:-60}

command -v prometheus-node-exporter >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-node-exporter >/dev/null
}
cargo build --release -p schoolwatch-agent --quiet
agent_bin=${CARGO_TARGET_DIR:-target}/release/schoolwatch-agent

port=$(free_port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$port" >/dev/null 2>&1 &
ne=$!
"$agent_bin" --config /nonexistent/agent.toml sample --interval 1s --json >/dev/null &
agent=$!
trap 'kill $ne $agent 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/metrics" >/dev/null && break; sleep 0.1; done

# Measure from a common start: subtract what start-up cost each.
ne_cpu0=$(cpu_seconds $ne); agent_cpu0=$(cpu_seconds $agent)
scrapes=0
for _ in $(seq "$DURATION"); do
  curl -sf "http://127.0.0.1:$port/metrics" >/dev/null && scrapes=$((scrapes + 1))
  sleep 1
done
ne_cpu=$(cpu_seconds $ne); agent_cpu=$(cpu_seconds $agent)
ne_rss=$(peak_rss_kib $ne); agent_rss=$(peak_rss_kib $agent)
kill $ne $agent; wait 2>/dev/null || true
trap - EXIT

out=$(mktemp)
python3 - "$DURATION" "$scrapes" "$agent_cpu0" "$agent_cpu" "$agent_rss" "$ne_cpu0" "$ne_cpu" "$ne_rss" "$(prometheus-node-exporter --version 2>&1 | head -1)" > "$out" <<'PY'
import sys
dur, scrapes = int(sys.argv[1]), int(sys.argv[2])
a0, a1, arss, n0, n1, nrss = map(float, sys.argv[3:9])
ne_version = sys.argv[9]
a_per = (a1 - a0) / dur            # one sample per second
n_per = (n1 - n0) / max(scrapes, 1)
print("## Agent footprint vs node_exporter (`bench/agent_footprint.sh`)\n")
print(f"{dur} s, one agent sample and one node_exporter scrape per second, run side by side; {ne_version}.\n")
print("| | schoolwatch-agent | node_exporter | ratio (agent / node_exporter) | goal |")
print("|---|---|---|---|---|")
print(f"| peak RSS | {arss/1024:.1f} MiB | {nrss/1024:.1f} MiB | {arss/nrss:.2f} | <= 0.5 |")
cpu_ratio = a_per / n_per if n_per > 0 else float('nan')
print(f"| CPU per sample / scrape | {a_per*1000:.2f} ms | {n_per*1000:.2f} ms | {cpu_ratio:.2f} | <= 0.5 |")
print(f"\nCPU is user+system time from /proc/PID/stat (10 ms ticks) over the whole run; RSS is VmHWM.")
PY
cat "$out"
write_section agent_footprint "$out"
rm -f "$out"
