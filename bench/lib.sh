# Shared helpers for bench/*.sh (sourced, not run).

# Seconds of CPU (user + system) a process has used so far.
cpu_seconds() {
  local pid=$1
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$pid/stat"
}

# Peak resident memory of a process so far, in KiB.
peak_rss_kib() {
  awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# A free loopback TCP port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Replaces the section NAME of bench/RESULTS.md (between its markers) with
# the contents of FILE, adding the section at the end if it is new.
write_section() {
  local name=$1 file=$2 results
  results="$(dirname "${BASH_SOURCE[0]}")/RESULTS.md"
  [ -f "$results" ] || printf '# Benchmark results\n\nEach section is written by the bench script it names; rerun the script to refresh it.\n' > "$results"
  python3 - "$results" "$name" "$file" <<'PY'
import sys, re
path, name, body_file = sys.argv[1:]
text = open(path).read()
body = open(body_file).read().rstrip() + "\n"
start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
block = f"{start}\n{body}{end}\n"
if start in text:
    text = re.sub(re.escape(start) + ".*?" + re.escape(end) + "\n?", lambda m: block, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + block
open(path, "w").write(text)
PY
}

# Prepares a collector for a bench in directory WORK listening on
# 127.0.0.1:PORT: a private CA and certificate (WORK/tls/ca.pem for
# clients), WORK/collector.toml with the per-credential rate limit lifted (a
# bench is one client making many requests), and a one-school registry
# (SCHOOL_ID, link LINK at MBPS) imported. Needs $target (release dir).
setup_collector() {
  local work=$1 port=$2 school=$3 link=$4 mbps=$5
  "$target/schoolwatch-collector" certs --out "$work/tls" --name 127.0.0.1 >/dev/null
  cat > "$work/collector.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
tls_cert = "tls/collector.pem"
tls_key = "tls/collector.key"
[store]
data_dir = "data"
[ingest]
requests_per_minute = 100000000
TOML
  printf 'id,name,district,level,expected_lab_pcs,link_kind,contracted_mbps\n%s,Bench School,Pleiku,primary,1000,%s,%s\n' \
    "$school" "$link" "$mbps" > "$work/schools.csv"
  "$target/schoolwatch-collector" --config "$work/collector.toml" schools import "$work/schools.csv" >/dev/null
}
