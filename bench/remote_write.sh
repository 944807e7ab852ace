#!/usr/bin/env bash
# remote_write: the collector's ingest rate with remote_write off and on
# (to a real VictoriaMetrics, Debian package), remote_write's delivery rate
# in samples/s (live, and draining a backlog queued while the TSDB was
# down), and side by side a real Prometheus scraping /metrics of the same
# fleet: samples per second each path puts into a TSDB and the collector
# CPU each costs. Ratios to bench/RESULTS.md.
#
#   AGENTS=100 REPORTS=20 bench/remote_write.sh     # small
#   bench/remote_write.sh                           # 500 x 40, like ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
AGENTS=${AGENTS:-500}
REPORTS=${REPORTS:-40}
CONCURRENCY=${CONCURRENCY:-64}
SCRAPE_SECS=${SCRAPE_SECS:-30}

for p in victoria-metrics prometheus; do
  command -v "$p" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
done
cargo build --release -p schoolwatch-collector -p schoolwatch-tests --bins --quiet
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
metric() { # FILE NAME LABEL-FILTER: the first matching value
  awk -v n="$2" -v f="$3" '$1 ~ "^"n"([{]|$)" && index($1, f) { print $2; exit }' "$1"
}
wait_up() { for _ in $(seq 300); do curl -sf "$@" >/dev/null && return 0; sleep 0.1; done; echo "not up: $*" >&2; exit 1; }

# --- VictoriaMetrics (stopped and started again on the same port) ---
vport=$(free_port)
vm=
vm_start() {
  victoria-metrics -httpListenAddr="127.0.0.1:$vport" -storageDataPath="$work/vm" \
    -retentionPeriod=100y -loggerLevel=ERROR >/dev/null 2>&1 &
  vm=$!; pids+=("$vm")
  wait_up "http://127.0.0.1:$vport/health"
}
vm_stop() { kill "$vm"; wait "$vm" 2>/dev/null || true; }
# Raw samples VictoriaMetrics holds (export, so recent ones count too).
vm_samples() {
  curl -sf "http://127.0.0.1:$vport/internal/force_flush" >/dev/null || true
  sleep 2
  curl -sf "http://127.0.0.1:$vport/api/v1/export" --data-urlencode 'match[]={__name__=~"schoolwatch_.+"}' \
    | python3 -c 'import json,sys; print(sum(len(json.loads(l)["timestamps"]) for l in sys.stdin if l.strip()))'
}

# A collector in $1 (remote_write to VictoriaMetrics when $2 = on), loaded
# by ingest_load. Sets C_PORT, C_PID (left running), C_CPU0 and C_CPU1
# (its CPU seconds before and after the load), C_T0 and C_T1 (the load's
# start and end); the load's JSON is in $1/ingest.json.
run_ingest() {
  local dir=$1 mode=$2 token
  mkdir -p "$dir"; C_PORT=$(free_port)
  setup_collector "$dir" "$C_PORT" bench-1 fibre 100
  if [ "$mode" = on ]; then
    printf '[[remote_write]]\nname = "vm"\nurl = "http://127.0.0.1:%s/api/v1/write"\nmax_backoff_secs = 1\n' "$vport" >> "$dir/collector.toml"
  fi
  "$target/schoolwatch-collector" --config "$dir/collector.toml" serve 2>"$dir/collector.log" &
  C_PID=$!; pids+=("$C_PID")
  wait_up --cacert "$dir/tls/ca.pem" "https://127.0.0.1:$C_PORT/healthz"
  token=$("$target/schoolwatch-collector" --config "$dir/collector.toml" token create --school bench-1 2>/dev/null)
  C_CPU0=$(cpu_seconds "$C_PID"); C_T0=$(now)
  "$target/ingest_load" --target collector --url "https://127.0.0.1:$C_PORT" --ca "$dir/tls/ca.pem" \
    --token "$token" --agents "$AGENTS" --reports "$REPORTS" --concurrency "$CONCURRENCY" > "$dir/ingest.json"
  C_T1=$(now); C_CPU1=$(cpu_seconds "$C_PID")
}
# Waits until the collector in $1 has nothing pending; leaves its fleet
# figures in $1/metrics.txt (the fleet part: no per-host series, so
# watching costs little).
wait_drained() {
  local p
  while :; do
    curl -sf --cacert "$1/tls/ca.pem" "https://127.0.0.1:$C_PORT/metrics?part=fleet" > "$1/metrics.txt"
    p=$(metric "$1/metrics.txt" schoolwatch_remote_write_pending_samples 'endpoint="vm"')
    awk -v p="${p:-1}" 'BEGIN { exit !(p + 0 == 0) }' && return 0
    sleep 0.1
  done
}
stop_collector() { kill "$C_PID"; wait "$C_PID" 2>/dev/null || true; }
sent_of() { metric "$1/metrics.txt" schoolwatch_remote_write_samples_sent_total 'endpoint="vm"'; }
sum_of() { awk -v n="$2" 'index($1, n) == 1 { s += $2 } END { print s + 0 }' "$1/metrics.txt"; }

vm_start

# --- A: remote_write off ---
run_ingest "$work/off" off
a_cpu=$(calc "$C_CPU1 - $C_CPU0")
stop_collector

# --- B: remote_write on, VictoriaMetrics up: live ---
vm_cpu0=$(cpu_seconds "$vm")
run_ingest "$work/live" on
b_cpu=$(calc "$C_CPU1 - $C_CPU0"); b_t0=$C_T0; b_t1=$C_T1
wait_drained "$work/live"
b_t2=$(now); b_cpu_all=$(calc "$(cpu_seconds "$C_PID") - $C_CPU0")
b_vm_cpu=$(calc "$(cpu_seconds "$vm") - $vm_cpu0")
b_sent=$(sent_of "$work/live"); b_failed=$(sum_of "$work/live" schoolwatch_remote_write_samples_failed_total)
b_dropped=$(sum_of "$work/live" schoolwatch_remote_write_samples_dropped_total)
live_port=$C_PORT; live_pid=$C_PID

# --- C: remote_write on, VictoriaMetrics down during ingest, then up: backlog ---
vm_stop
run_ingest "$work/backlog" on
c_cpu=$(calc "$C_CPU1 - $C_CPU0")
curl -sf --cacert "$work/backlog/tls/ca.pem" "https://127.0.0.1:$C_PORT/metrics?part=fleet" > "$work/backlog/metrics.txt"
c_queued=$(metric "$work/backlog/metrics.txt" schoolwatch_remote_write_pending_samples 'endpoint="vm"')
c_qbytes=$(metric "$work/backlog/metrics.txt" schoolwatch_remote_write_queue_bytes 'endpoint="vm"')
c_cpu_before=$(cpu_seconds "$C_PID")
vm_start
vm_cpu0=$(cpu_seconds "$vm")
c_t0=$(now)
wait_drained "$work/backlog"
c_t1=$(now)
c_drain_cpu=$(calc "$(cpu_seconds "$C_PID") - $c_cpu_before")
c_vm_cpu=$(calc "$(cpu_seconds "$vm") - $vm_cpu0")
c_sent=$(sent_of "$work/backlog")
c_dropped=$(sum_of "$work/backlog" schoolwatch_remote_write_samples_dropped_total)
stop_collector
in_vm=$(vm_samples)

# --- D: Prometheus scraping /metrics of the same fleet (collector B, idle) ---
pport=$(free_port)
cat > "$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: schoolwatch-collector
    scheme: https
    tls_config:
      ca_file: $work/live/tls/ca.pem
    static_configs:
      - targets: ['127.0.0.1:$live_port']
YML
d_cpu0=$(cpu_seconds "$live_pid")
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --web.listen-address="127.0.0.1:$pport" --log.level=error >/dev/null 2>&1 &
prom=$!; pids+=("$prom")
wait_up "http://127.0.0.1:$pport/-/ready"
sleep "$SCRAPE_SECS"
d_cpu=$(calc "$(cpu_seconds "$live_pid") - $d_cpu0")
q() { curl -sf "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" \
  | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'; }
d_scrapes=$(q 'count_over_time(up{job="schoolwatch-collector"}[1h])')
d_per_scrape=$(q 'scrape_samples_scraped{job="schoolwatch-collector"}')
d_secs=$(q 'avg_over_time(scrape_duration_seconds{job="schoolwatch-collector"}[1h])')
kill "$prom" "$live_pid"; wait "$prom" "$live_pid" 2>/dev/null || true

out=$(mktemp)
python3 - "$work" <<PY > "$out"
import json
off = json.load(open("$work/off/ingest.json"))
live = json.load(open("$work/live/ingest.json"))
back = json.load(open("$work/backlog/ingest.json"))
a_cpu, b_cpu, c_cpu = $a_cpu, $b_cpu, $c_cpu
b_t0, b_t1, b_t2, b_cpu_all, b_vm_cpu = $b_t0, $b_t1, $b_t2, $b_cpu_all, $b_vm_cpu
b_sent, b_failed, b_dropped = float("$b_sent"), float("$b_failed"), float("$b_dropped")
c_queued, c_qbytes, c_t0, c_t1 = float("$c_queued"), float("$c_qbytes"), $c_t0, $c_t1
c_drain_cpu, c_vm_cpu, c_sent, c_dropped = $c_drain_cpu, $c_vm_cpu, float("$c_sent"), float("$c_dropped")
in_vm = float("$in_vm")
d_cpu, d_scrapes, d_per_scrape, d_secs = $d_cpu, float("$d_scrapes"), float("$d_per_scrape"), float("$d_secs")
per_k = lambda cpu, n: cpu / max(n, 1) * 1e9  # µs of CPU per 1,000 samples
rw_live_rate = b_sent / (b_t2 - b_t0)
drain_rate = c_sent / (c_t1 - c_t0)
scrape_rate = d_per_scrape / 1.0
print("## remote_write vs scraping /metrics (\`bench/remote_write.sh\`)\n")
print("$AGENTS simulated agents x $REPORTS reports ($CONCURRENCY requests in flight, load generator on the same 2 cores), each run on a fresh collector: A without remote_write; B with one endpoint, a local VictoriaMetrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || true); C the same with VictoriaMetrics down during the load and started after it (a backlog). Then $(prometheus --version 2>&1 | head -1 | cut -d' ' -f1-3) scrapes \`/metrics\` of B's fleet every second (more often than usual, to measure its cost) for $SCRAPE_SECS s. Loopback, release build, 2 shared cores.\n")
print("| ingest | A: remote_write off | B: on, TSDB up | C: on, TSDB down | B/A | C/A |")
print("|---|---|---|---|---|---|")
print(f"| reports/s | {off['per_second']:.0f} | {live['per_second']:.0f} | {back['per_second']:.0f} | {live['per_second']/off['per_second']:.2f} | {back['per_second']/off['per_second']:.2f} |")
print(f"| p99 latency | {off['p99_ms']:.1f} ms | {live['p99_ms']:.1f} ms | {back['p99_ms']:.1f} ms | {live['p99_ms']/off['p99_ms']:.2f} | {back['p99_ms']/off['p99_ms']:.2f} |")
print(f"| collector CPU per report | {a_cpu/off['requests']*1e6:.0f} µs | {b_cpu/live['requests']*1e6:.0f} µs | {c_cpu/back['requests']*1e6:.0f} µs | {(b_cpu/live['requests'])/(a_cpu/off['requests']):.2f} | {(c_cpu/back['requests'])/(a_cpu/off['requests']):.2f} |")
print(f"| errors | {off['errors']} | {live['errors']} | {back['errors']} | | |")
print()
print("| into the TSDB | remote_write → VictoriaMetrics | Prometheus scraping /metrics | ratio |")
print("|---|---|---|---|")
print(f"| samples/s, live (B) | {rw_live_rate:.0f} ({b_sent:.0f} samples, first report to empty queue {b_t2-b_t0:.1f} s) | {scrape_rate:.0f} ({d_per_scrape:.0f} per scrape every 1 s; at the usual 15 s, {d_per_scrape/15:.0f}) | {rw_live_rate/max(scrape_rate,1e-9):.0f} |")
print(f"| samples/s, draining a backlog (C) | {drain_rate:.0f} ({c_sent:.0f} samples, {c_qbytes/1048576:.1f} MiB of queue, in {c_t1-c_t0:.1f} s from VictoriaMetrics up, including up to 1 s of the sender's backoff) | | |")
print(f"| what reaches the TSDB | every report's samples at their own time | the newest value per series per scrape | |")
rw_k, sc_k = per_k(c_drain_cpu, c_sent), per_k(d_cpu, d_scrapes*d_per_scrape)
ratio = f"{rw_k/sc_k:.2f}" if sc_k > 0 else "n/a (scrape CPU under one clock tick)"
print(f"| collector CPU per 1,000 samples | {rw_k:.0f} µs (sending the backlog: {c_drain_cpu:.2f} s) | {sc_k:.0f} µs ({d_scrapes:.0f} scrapes of {d_secs*1000:.0f} ms: {d_cpu:.2f} s) | {ratio} |")
print(f"| VictoriaMetrics CPU per 1,000 samples | {per_k(c_vm_cpu, c_sent):.0f} µs (backlog), {per_k(b_vm_cpu, b_sent):.0f} µs (live) | | |")
print(f"\nSamples in VictoriaMetrics afterwards: {in_vm:.0f}; sent {b_sent+c_sent:.0f} (B {b_sent:.0f} + C {c_sent:.0f}); retried in B {b_failed:.0f}; dropped {b_dropped+c_dropped:.0f}. Run C queued {c_queued:.0f} samples while the TSDB was down.")
print("CPU is read from /proc in clock ticks (10 ms); small runs round coarsely. The drain is watched through \`/metrics?part=fleet\` every 0.1 s.")
PY
cat "$out"
write_section remote_write "$out"
rm -f "$out"
