#!/usr/bin/env bash
# Ingest throughput: simulated agents post reports concurrently to the
# collector (HTTPS, gzip, real enrollment, SQLite with synchronous=FULL and
# group commit), and, in the same script, the same data as text pushes to a
# Prometheus Pushgateway (Debian package, plain HTTP on loopback). Reports
# per second, p50/p99 latency, peak RSS and CPU of each server; ratios to
# bench/RESULTS.md. Goal: >= 20,000 reports/s and >= 10x the pushgateway.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
AGENTS=${AGENTS:-500}
REPORTS=${REPORTS:-40}
CONCURRENCY=${CONCURRENCY:-64}

command -v prometheus-pushgateway >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-pushgateway >/dev/null
}
cargo build --release -p schoolwatch-collector -p schoolwatch-tests --bins --quiet
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# --- schoolwatch collector ---
port=$(free_port)
setup_collector "$work" "$port" bench-1 fibre 100
"$target/schoolwatch-collector" --config "$work/collector.toml" serve 2>"$work/collector.log" &
collector=$!; pids+=("$collector")
for _ in $(seq 100); do curl -sf --cacert "$work/tls/ca.pem" "https://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
token=$("$target/schoolwatch-collector" --config "$work/collector.toml" token create --school bench-1 2>/dev/null)
c_cpu0=$(cpu_seconds $collector)
sw=$("$target/ingest_load" --target collector --url "https://127.0.0.1:$port" --ca "$work/tls/ca.pem" \
      --token "$token" --agents "$AGENTS" --reports "$REPORTS" --concurrency "$CONCURRENCY")
c_cpu=$(cpu_seconds $collector); c_rss=$(peak_rss_kib $collector)
stored=$(curl -sf --cacert "$work/tls/ca.pem" "https://127.0.0.1:$port/metrics" | awk '/^schoolwatch_ingest_reports_total /{print $2}')
kill "$collector"; wait "$collector" 2>/dev/null || true

# --- pushgateway ---
pport=$(free_port)
prometheus-pushgateway --web.listen-address="127.0.0.1:$pport" >/dev/null 2>&1 &
pg=$!; pids+=("$pg")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$pport/-/ready" >/dev/null && break; sleep 0.1; done
p_cpu0=$(cpu_seconds $pg)
pgw=$("$target/ingest_load" --target pushgateway --url "http://127.0.0.1:$pport" \
      --agents "$AGENTS" --reports "$REPORTS" --concurrency "$CONCURRENCY")
p_cpu=$(cpu_seconds $pg); p_rss=$(peak_rss_kib $pg)
kill "$pg"; wait "$pg" 2>/dev/null || true

out=$(mktemp)
python3 - "$sw" "$pgw" "$c_cpu0" "$c_cpu" "$c_rss" "$p_cpu0" "$p_cpu" "$p_rss" "$stored" "$AGENTS" "$REPORTS" "$CONCURRENCY" "$(prometheus-pushgateway --version 2>&1 | head -1)" > "$out" <<'PY'
import json, sys
sw, pg = json.loads(sys.argv[1]), json.loads(sys.argv[2])
c0, c1, crss, p0, p1, prss = map(float, sys.argv[3:9])
stored, agents, reports, conc, pgv = sys.argv[9], sys.argv[10], sys.argv[11], sys.argv[12], sys.argv[13]
print("## Ingest throughput vs Pushgateway (`bench/ingest.sh`)\n")
print(f"{agents} simulated agents x {reports} reports, one report per request, {conc} requests in flight, load generator on the same 2 cores (its request bodies encoded before the clock starts); {pgv}.")
print("The collector takes HTTPS + gzip, authenticates each request, validates, de-duplicates and commits to SQLite (synchronous=FULL, group commit) before acknowledging; the Pushgateway takes plain-HTTP text pushes into memory.\n")
print("| | schoolwatch collector | Pushgateway | ratio |")
print("|---|---|---|---|")
print(f"| reports/s | {sw['per_second']:.0f} | {pg['per_second']:.0f} | {sw['per_second']/pg['per_second']:.2f} |")
print(f"| p50 latency | {sw['p50_ms']:.2f} ms | {pg['p50_ms']:.2f} ms | {sw['p50_ms']/pg['p50_ms']:.2f} |")
print(f"| p99 latency | {sw['p99_ms']:.2f} ms | {pg['p99_ms']:.2f} ms | {sw['p99_ms']/pg['p99_ms']:.2f} |")
print(f"| server CPU per report | {(c1-c0)/sw['requests']*1e6:.0f} µs | {(p1-p0)/pg['requests']*1e6:.0f} µs | {((c1-c0)/sw['requests'])/max((p1-p0)/pg['requests'],1e-9):.2f} |")
print(f"| peak RSS | {crss/1024:.1f} MiB | {prss/1024:.1f} MiB | {crss/prss:.2f} |")
print(f"| bytes sent per report | {sw['bytes_sent']/sw['requests']:.0f} | {pg['bytes_sent']/pg['requests']:.0f} | {(sw['bytes_sent']/sw['requests'])/(pg['bytes_sent']/pg['requests']):.2f} |")
print(f"| errors | {sw['errors']} | {pg['errors']} | |")
print(f"\nReports stored by the collector (schoolwatch_ingest_reports_total): {stored} of {sw['requests']}.")
print("Goal: >= 20,000 reports/s and >= 10x the Pushgateway's rate.")
PY
cat "$out"
write_section ingest "$out"
rm -f "$out"
