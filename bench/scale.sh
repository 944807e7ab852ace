#!/usr/bin/env bash
# Scale: the collector under 1,000, 10,000 and 50,000 simulated hosts, each
# reporting every 60 s in real time (no time compression: the load is what
# a province of that size sends). schoolwatch-sim enrolls every host
# through the real endpoint and sends real reports over HTTPS with the
# agent's client, from the sample registry's 519 schools.
#
# Per fleet size, once every host has reported and a minute more has
# passed (steady state), over STEADY seconds: the collector's CPU share of
# one core while ingesting, its peak RSS, the database's growth scaled to a
# day of fleet time; then /metrics scraped whole and in parts (fleet +
# one host scrape per district, config/prometheus-large.yml), each scrape
# with a cold fleet picture; then a real Prometheus scraping the parts
# (scrape duration and samples). Results, growth order and a plot to
# bench/RESULTS.md and bench/scale.png. Goal at 50,000: ingest < 50 % of a
# core, peak RSS < 1 GiB, a scrape < 2 s, cost no worse than linear.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SIZES=${SIZES:-"1000 10000 50000"}
STEADY=${STEADY:-180}

for tool in prometheus promtool; do
  command -v $tool >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
done
python3 -c 'import matplotlib' 2>/dev/null || pip install -q matplotlib
cargo build --release -p schoolwatch-collector -p schoolwatch-sim --bins --quiet
target=${CARGO_TARGET_DIR:-target}/release
results=$(mktemp)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# The value of a sample (name plus labels as written) in an exposition.
sample() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }

# Seconds and bytes of one GET, with a cold fleet picture (the collector
# keeps one for at most 10 s).
timed_get() {
  local url=$1 out=$2
  sleep 11
  curl -sf --cacert "$work/tls/ca.pem" -o "$out" -w '%{time_total} %{size_download}\n' "$url"
}

db_bytes() { du -sb "$work/data" | cut -f1; }

for n in $SIZES; do
  work=$(mktemp -d)
  port=$(free_port)
  setup_collector "$work" "$port" bench-unused fibre 100
  "$target/schoolwatch-collector" --config "$work/collector.toml" schools import config/schools.csv >/dev/null
  "$target/schoolwatch-collector" --config "$work/collector.toml" serve 2>"$work/collector.log" &
  collector=$!; pids+=("$collector")
  base="https://127.0.0.1:$port"
  for _ in $(seq 100); do curl -sf --cacert "$work/tls/ca.pem" "$base/healthz" >/dev/null && break; sleep 0.1; done
  "$target/schoolwatch-collector" --config "$work/collector.toml" token create --all-schools --out "$work/tokens.csv" 2>/dev/null
  total=$((STEADY + 600))
  "$target/schoolwatch-sim" --collector "$base" --ca "$work/tls/ca.pem" --tokens "$work/tokens.csv" \
    --hosts "$n" --interval 60s --duration "${total}s" --speed 1 --seed 7 --quiet --concurrency 256 \
    --drain 1s >"$work/sim.out" 2>"$work/sim.err" &
  sim=$!; pids+=("$sim")

  # Steady state: every host enrolled and reporting (schools in a simulated
  # outage stay silent), then one more interval.
  t0=$(date +%s)
  while :; do
    curl -sf --cacert "$work/tls/ca.pem" "$base/metrics?part=fleet" -o "$work/fleet.txt" || true
    reporting=$(sample "$work/fleet.txt" schoolwatch_province_machines_reporting | cut -d. -f1)
    agents=$(awk '$1 ~ /^schoolwatch_school_agents\{/ { s += $NF } END { printf "%d", s }' "$work/fleet.txt")
    [ "${agents:-0}" -ge "$n" ] && [ "${reporting:-0}" -ge $((n * 8 / 10)) ] && break
    [ $(( $(date +%s) - t0 )) -lt 900 ] || { echo "fleet of $n never reached steady state" >&2; exit 1; }
    sleep 5
  done
  ready_s=$(( $(date +%s) - t0 ))
  sleep 60
  cpu0=$(cpu_seconds "$collector"); db0=$(db_bytes)
  r0=$(curl -sf --cacert "$work/tls/ca.pem" "$base/metrics?part=fleet" | awk '$1 == "schoolwatch_ingest_reports_total" { print $2 }')
  sleep "$STEADY"
  cpu1=$(cpu_seconds "$collector"); db1=$(db_bytes)
  r1=$(curl -sf --cacert "$work/tls/ca.pem" "$base/metrics?part=fleet" | awk '$1 == "schoolwatch_ingest_reports_total" { print $2 }')

  # Scrapes, each with a cold fleet picture: the whole exposition, the
  # fleet part, and every district's hosts at once (as Prometheus does).
  full=$(timed_get "$base/metrics" "$work/full.txt")
  fleet=$(timed_get "$base/metrics?part=fleet" "$work/fleet.txt")
  sleep 11
  shards=$(python3 - "$base" "$work/tls/ca.pem" <<'PY'
import csv, sys, time, ssl, urllib.parse, urllib.request, concurrent.futures as cf
base, ca = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
districts = sorted({r["district"] for r in csv.DictReader(open("config/schools.csv"))})
def get(d):
    t = time.monotonic()
    with urllib.request.urlopen(f"{base}/metrics?part=hosts&district={urllib.parse.quote(d)}", context=ctx) as r:
        size = len(r.read())
    return time.monotonic() - t, size
t = time.monotonic()
with cf.ThreadPoolExecutor(len(districts)) as ex:
    got = list(ex.map(get, districts))
print(f"{time.monotonic() - t:.3f} {max(s for s, _ in got):.3f} {sum(b for _, b in got)} {len(districts)}")
PY
)
  full_series=$(grep -vc '^#' "$work/full.txt")

  # A real Prometheus scraping the parts every 15 s.
  pport=$(free_port)
  mkdir -p "$work/prom"
  cat > "$work/prom/prometheus.yml" <<YML
global: { scrape_interval: 15s, scrape_timeout: 15s }
scrape_configs:
  - job_name: fleet
    scheme: https
    tls_config: { ca_file: $work/tls/ca.pem }
    params: { part: [fleet] }
    static_configs: [{ targets: ["127.0.0.1:$port"] }]
  - job_name: hosts
    scheme: https
    tls_config: { ca_file: $work/tls/ca.pem }
    params: { part: [hosts] }
    static_configs:
      - targets: [$(python3 -c 'import csv,json; print(",".join(json.dumps(d) for d in sorted({r["district"] for r in csv.DictReader(open("config/schools.csv"))})))')]
    relabel_configs:
      - { source_labels: [__address__], target_label: __param_district }
      - { source_labels: [__address__], target_label: instance }
      - { target_label: __address__, replacement: "127.0.0.1:$port" }
YML
  prometheus --config.file="$work/prom/prometheus.yml" --storage.tsdb.path="$work/prom/data" \
    --web.listen-address="127.0.0.1:$pport" >"$work/prom.log" 2>&1 &
  prom=$!; pids+=("$prom")
  sleep 50
  q() { curl -sf "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "nan")'; }
  p_dur=$(q 'max(scrape_duration_seconds{job=~"fleet|hosts"})')
  p_samples=$(q 'sum(scrape_samples_scraped{job=~"fleet|hosts"})')
  p_up=$(q 'sum(up{job=~"fleet|hosts"})')
  p_rss=$(peak_rss_kib "$prom")
  rss=$(peak_rss_kib "$collector")
  kill "$prom" "$sim" 2>/dev/null || true; wait "$prom" "$sim" 2>/dev/null || true
  kill "$collector"; wait "$collector" 2>/dev/null || true
  echo "$n $ready_s $cpu0 $cpu1 $db0 $db1 $r0 $r1 $rss $full $fleet $shards $full_series $p_dur $p_samples $p_up $p_rss" >> "$results"
  rm -rf "$work"
done

out=$(mktemp)
python3 - "$results" "$STEADY" "$(prometheus --version 2>&1 | head -1)" > "$out" <<'PY'
import math, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
path, steady, promv = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rows = []
for line in open(path):
    f = line.split()
    n, ready = int(f[0]), int(f[1])
    cpu0, cpu1, db0, db1, r0, r1, rss = map(float, f[2:9])
    full_s, full_b, fleet_s, fleet_b = map(float, f[9:13])
    sh_wall, sh_max, sh_bytes, sh_n = map(float, f[13:17])
    full_series = int(f[17])
    p_dur, p_samples, p_up, p_rss = f[18], f[19], f[20], f[21]
    rows.append(dict(n=n, ready=ready, cpu=(cpu1 - cpu0) / steady, rps=(r1 - r0) / steady,
                     db_day=(db1 - db0) / steady * 86400, rss=rss / 1024, full_s=full_s, full_mb=full_b / 1e6,
                     fleet_s=fleet_s, fleet_kb=fleet_b / 1e3, sh_wall=sh_wall, sh_max=sh_max,
                     sh_mb=sh_bytes / 1e6, sh_n=int(sh_n), full_series=full_series,
                     p_dur=float(p_dur), p_samples=float(p_samples), p_up=float(p_up), p_rss=float(p_rss) / 1024))

def order(key):
    """Growth order from the log-log slope between the smallest and largest fleet."""
    a, b = rows[0], rows[-1]
    if len(rows) < 2 or a[key] <= 0 or b[key] <= 0:
        return "-"
    k = math.log(b[key] / a[key]) / math.log(b["n"] / a["n"])
    name = "constant" if k < 0.25 else "sublinear" if k < 0.85 else "linear" if k < 1.15 else "superlinear"
    return f"{name} (slope {k:.2f})"

print("## Scale: 1,000 to 50,000 simulated hosts (`bench/scale.sh`)\n")
print(f"schoolwatch-sim (one process, release build, same 2 cores) enrolls every host through the real endpoint and sends a report per host every 60 s in real time (no compression) over HTTPS, from the 519 schools of config/schools.csv; 10 % of schools are in a simulated outage (silent). Steady state measured over {steady:.0f} s after every host had reported and one more minute passed. Scrapes are timed with a cold fleet picture; \"parts\" is `?part=fleet` plus one `?part=hosts&district=D` per district fetched at once (config/prometheus-large.yml). Prometheus ({promv}) scraped the parts every 15 s for 50 s.\n")
cols = [("hosts", "n", "{:,}"), ("reports/s stored", "rps", "{:.0f}"), ("ingest CPU (share of one core)", "cpu", "{:.1%}"),
        ("peak RSS MiB", "rss", "{:.0f}"), ("DB growth per fleet day", "db_day", None),
        ("whole /metrics: s / MB / series", "full_s", None), ("?part=fleet: s / kB", "fleet_s", None),
        ("host parts at once: wall s / slowest s / MB", "sh_wall", None),
        ("Prometheus: slowest scrape s / samples / targets up / RSS MiB", "p_dur", None)]
print("| " + " | ".join(c[0] for c in cols) + " |")
print("|" + "---|" * len(cols))
for r in rows:
    cells = [f"{r['n']:,}", f"{r['rps']:.0f}", f"{r['cpu']:.1%}", f"{r['rss']:.0f}",
             f"{r['db_day'] / 1e9:.2f} GB", f"{r['full_s']:.2f} / {r['full_mb']:.0f} / {r['full_series']:,}",
             f"{r['fleet_s']:.3f} / {r['fleet_kb']:.0f}", f"{r['sh_wall']:.2f} / {r['sh_max']:.2f} / {r['sh_mb']:.0f}",
             f"{r['p_dur']:.2f} / {r['p_samples']:,.0f} / {r['p_up']:.0f} of {r['sh_n'] + 1} / {r['p_rss']:.0f}"]
    print("| " + " | ".join(cells) + " |")
print()
print("Growth from the smallest to the largest fleet (log-log slope; 1 is linear): "
      f"ingest CPU {order('cpu')}, peak RSS {order('rss')}, DB growth {order('db_day')}, "
      f"whole scrape time {order('full_s')}, fleet-part scrape time {order('fleet_s')}, host parts wall time {order('sh_wall')}.")
big = rows[-1]
print()
print(f"Goal at {big['n']:,} hosts: ingest under 50 % of a core: {big['cpu']:.1%}; peak RSS under 1 GiB: {big['rss']:.0f} MiB; "
      f"a scrape under 2 s: whole {big['full_s']:.2f} s, fleet part {big['fleet_s']:.3f} s, slowest host part {big['sh_max']:.2f} s "
      f"(all parts at once {big['sh_wall']:.2f} s). The plot is bench/scale.png.")

fig, ax = plt.subplots(1, 4, figsize=(16, 4))
ns = [r["n"] for r in rows]
for a, (title, keys) in zip(ax, [("ingest CPU, share of a core", [("cpu", "ingest")]),
                                 ("peak RSS, MiB", [("rss", "collector")]),
                                 ("DB growth, GB per fleet day", [("db_day", "database")]),
                                 ("scrape time, s", [("full_s", "whole /metrics"), ("fleet_s", "?part=fleet"), ("sh_max", "slowest district part")])]):
    for key, label in keys:
        ys = [r[key] / (1e9 if key == "db_day" else 1) for r in rows]
        a.plot(ns, ys, marker="o", label=label)
    a.set_xscale("log"); a.set_yscale("log"); a.set_xlabel("hosts"); a.set_title(title); a.grid(True, which="both", alpha=0.3)
    a.legend(fontsize=7)
fig.tight_layout()
fig.savefig("bench/scale.png", dpi=80)
PY
write_section scale "$out"
cat "$out"
