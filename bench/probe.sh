#!/usr/bin/env bash
# Cost of probing 50 targets every 10 s: the agent (`run` with 50 probe
# targets, one echo each per round, reporting every 10 s to a collector)
# against blackbox_exporter (Debian package) probed for the same 50 targets
# every 10 s, as Prometheus would, same script. Targets are loopback
# addresses 127.0.0.1-50. Peak RSS and CPU of the agent and of the
# exporter (not of the collector or of the scraping loop); ratios to
# bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROUNDS=${ROUNDS:-9}

command -v prometheus-blackbox-exporter >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-blackbox-exporter >/dev/null
}
cargo build --release -p schoolwatch-collector -p schoolwatch-agent --bins --quiet
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cport=$(free_port)
setup_collector "$work" "$cport" p-1 4g 25
"$target/schoolwatch-collector" --config "$work/collector.toml" serve 2>/dev/null &
pids+=("$!")
for _ in $(seq 100); do curl -sf --cacert "$work/tls/ca.pem" "https://127.0.0.1:$cport/healthz" >/dev/null && break; sleep 0.1; done
targets=$(python3 -c 'print(", ".join(f"\"127.0.0.{i}\"" for i in range(1, 51)))')
cat > "$work/agent.toml" <<TOML
[probe]
collector = false
targets = [$targets]
interval_secs = 10
count = 1
TOML
agent_args=(--config "$work/agent.toml" --state "$work/agent" --log-level error)
"$target/schoolwatch-agent" "${agent_args[@]}" enroll --collector "https://127.0.0.1:$cport" \
  --token "$("$target/schoolwatch-collector" --config "$work/collector.toml" token create --school p-1 2>/dev/null)" \
  --ca "$work/tls/ca.pem" >/dev/null

# blackbox_exporter with an ICMP module.
bport=$(free_port)
printf 'modules:\n  icmp:\n    prober: icmp\n    timeout: 5s\n' > "$work/blackbox.yml"
prometheus-blackbox-exporter --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$bport" >/dev/null 2>&1 &
bb=$!; pids+=("$bb")
"$target/schoolwatch-agent" "${agent_args[@]}" run --interval 10s &
agent=$!; pids+=("$agent")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$bport/metrics" >/dev/null && break; sleep 0.1; done
sleep 1
a0=$(cpu_seconds $agent); b0=$(cpu_seconds $bb)
ok=0
for round in $(seq "$ROUNDS"); do
  t=$(date +%s.%N)
  for i in $(seq 50); do
    curl -sf "http://127.0.0.1:$bport/probe?module=icmp&target=127.0.0.$i" -o "$work/bb.$i" &
  done
  wait $(jobs -p | grep -v -e "^$agent\$" -e "^$bb\$" -e "^${pids[0]}\$") 2>/dev/null || true
  ok=$((ok + $(grep -l '^probe_success 1' "$work"/bb.* | wc -l)))
  sleep "$(python3 -c "import time; print(max(0, 10 - (time.time() - $t)))")"
done
a1=$(cpu_seconds $agent); b1=$(cpu_seconds $bb)
arss=$(peak_rss_kib $agent); brss=$(peak_rss_kib $bb)
reported=$(curl -sf --cacert "$work/tls/ca.pem" "https://127.0.0.1:$cport/metrics" | grep -c '^schoolwatch_probe_loss_ratio{' || true)

out=$(mktemp)
python3 - "$ROUNDS" "$a0" "$a1" "$arss" "$b0" "$b1" "$brss" "$ok" "$reported" "$(prometheus-blackbox-exporter --version 2>&1 | head -1)" > "$out" <<'PY'
import sys
rounds = int(sys.argv[1])
a0, a1, arss, b0, b1, brss = map(float, sys.argv[2:8])
ok, reported, bbv = int(sys.argv[8]), int(sys.argv[9]), sys.argv[10]
a = (a1 - a0) / rounds
b = (b1 - b0) / rounds
print("## Probing 50 targets every 10 s vs blackbox_exporter (`bench/probe.sh`)\n")
print(f"{rounds} rounds of 50 loopback targets, one echo each per round. The agent also samples and reports every 10 s; blackbox_exporter is probed as Prometheus would ({bbv}).\n")
print("| | schoolwatch agent | blackbox_exporter | ratio |")
print("|---|---|---|---|")
print(f"| CPU per round of 50 probes | {a*1000:.1f} ms | {b*1000:.1f} ms | {a/b if b else float('nan'):.2f} |")
print(f"| peak RSS | {arss/1024:.1f} MiB | {brss/1024:.1f} MiB | {arss/brss:.2f} |")
print(f"\nblackbox_exporter probes that succeeded: {ok} of {rounds*50}; targets in the collector's newest probe series: {reported} of 50.")
PY
cat "$out"
write_section probe "$out"
rm -f "$out"
