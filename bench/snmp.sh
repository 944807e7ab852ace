#!/usr/bin/env bash
# Polling a 48-port switch: schoolwatch-agent's SNMP poller against
# Prometheus snmp_exporter (Debian package), same script, same device.
#
# The device is a real snmpd (net-snmp) in a network namespace this script
# makes, with 48 ports (veth ends named port1..port48, their peers in a
# second namespace of "hosts") plus its uplink, so IF-MIB has 50 rows. The
# pollers run in the root namespace and reach it over a veth pair in
# 10.199.0.0/30; no traffic leaves the namespaces made here.
#
# Per poll, over N polls of each: wall time (median, p95), CPU of the poller
# (utime+stime; for the agent, a fresh process per poll, so its start is
# included; for the exporter, the delta of its long-running process), peak
# RSS, SNMP requests and responses (nftables counters on udp/161 in the
# device's namespace), frames and bytes on the uplink (its veth counters),
# and snmpd's CPU (what the poll costs the switch). The exporter runs twice:
# with the OIDs the agent polls (fair per-OID comparison) and with the
# upstream `if_mib` module (what a Prometheus user runs). Ratios to
# bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
N=${N:-100}
COMMUNITY=bench-public

# Debian packages the bench drives, installed when missing (command:package).
need=()
for p in prometheus-snmp-exporter:prometheus-snmp-exporter snmpd:snmpd snmpbulkwalk:snmp nft:nftables \
  ip:iproute2 curl:curl /usr/bin/time:time; do
  command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
done
if ((${#need[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ "$(id -u)" = 0 ] || { echo "bench/snmp.sh makes network namespaces: run it as root" >&2; exit 2; }
if ip -4 route show to match 10.199.0.1 | grep -q '^10\.199\.'; then
  echo "10.199.0.0/30 is already routed here; bench/snmp.sh needs it free" >&2; exit 2
fi
cargo build --release -p schoolwatch-agent --quiet
agent_bin=${CARGO_TARGET_DIR:-target}/release/schoolwatch-agent

work=$(mktemp -d)
dev=sw-snmpdev-$$
hosts=sw-snmphosts-$$
veth=swsnmp$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # Deleting a namespace removes its veth pairs, but asynchronously: the
  # root end goes explicitly, at once.
  ip link del "$veth" 2>/dev/null || true
  ip netns del "$dev" 2>/dev/null || true
  ip netns del "$hosts" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
indev() { ip netns exec "$dev" "$@"; }

# === the device ===
ip netns add "$dev"
ip netns add "$hosts"
for ns in "$dev" "$hosts"; do
  # No IPv6 (router solicitations, MLD) to muddy the packet counts.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
done
ip link add "$veth" type veth peer name uplink netns "$dev"
sysctl -qw "net.ipv6.conf.$veth.disable_ipv6=1"
ip addr add 10.199.0.1/30 dev "$veth"
ip -n "$dev" addr add 10.199.0.2/30 dev uplink
ip link set "$veth" up
ip -n "$dev" link set uplink up
# Static neighbours both ways: no ARP in the counts.
ip neigh replace 10.199.0.2 dev "$veth" nud permanent \
  lladdr "$(ip -n "$dev" -j link show uplink | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')"
ip -n "$dev" neigh replace 10.199.0.1 dev uplink nud permanent \
  lladdr "$(ip -j link show "$veth" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')"
for i in $(seq 48); do
  ip -n "$dev" link add "port$i" type veth peer name "h$i" netns "$hosts"
  ip -n "$dev" link set "port$i" alias "classroom $i"
  ip -n "$dev" link set "port$i" up
  ip -n "$hosts" link set "h$i" up
done
# port1 carries a little steady traffic, so its counters move during the
# run (the sanity check reads them with both tools and snmpwalk).
ip -n "$dev" addr add 10.199.1.1/30 dev port1
ip -n "$hosts" addr add 10.199.1.2/30 dev h1
# Started directly, not through a function, so that $! is its PID.
ip netns exec "$hosts" python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while True:
    s.sendto(b"x" * 1000, ("10.199.1.1", 9))  # discard port: answered by ICMP
    time.sleep(0.2)
' &
pids+=("$!")

# Counters of SNMP datagrams in and out of the device.
indev nft -f - <<'NFT'
table inet snmpbench {
  counter requests {}
  counter responses {}
  chain in { type filter hook input priority 0; udp dport 161 counter name requests; }
  chain out { type filter hook output priority 0; udp sport 161 counter name responses; }
}
NFT

cat > "$work/snmpd.conf" <<CONF
agentAddress udp:10.199.0.2:161
rocommunity $COMMUNITY 10.199.0.0/30
sysName bench-switch-48
sysLocation bench rack
dontLogTCPWrappersConnects yes
CONF
SNMP_PERSISTENT_DIR=$work/snmpd MIBS= \
  ip netns exec "$dev" snmpd -f -C -c "$work/snmpd.conf" -Lf "$work/snmpd.log" &
snmpd=$!; pids+=("$snmpd")
walk() { snmpbulkwalk -v2c -c "$COMMUNITY" -On -Oe -t 2 -r 1 10.199.0.2 "$@"; }
for _ in $(seq 50); do walk 1.3.6.1.2.1.1.5 >/dev/null 2>&1 && break; sleep 0.1; done
rows=$(walk 1.3.6.1.2.1.31.1.1.1.1 | wc -l)
[ "$rows" -eq 50 ] || { echo "the simulated switch has $rows interfaces, expected 50" >&2; exit 1; }

# Snapshot of what a batch of polls cost: nft datagrams, uplink frames and
# bytes (veth counters in the device's namespace), snmpd CPU.
snapshot() {
  local nftj linkj
  nftj=$(indev nft -j list counters table inet snmpbench)
  linkj=$(ip -n "$dev" -s -j link show uplink)
  python3 - "$nftj" "$linkj" "$(cpu_seconds "$snmpd")" <<'PY'
import json, sys
nft, link, cpu = json.loads(sys.argv[1]), json.loads(sys.argv[2])[0], sys.argv[3]
c = {o["counter"]["name"]: o["counter"] for o in nft["nftables"] if "counter" in o}
s = link["stats64"]
print(c["requests"]["packets"], c["requests"]["bytes"], c["responses"]["packets"], c["responses"]["bytes"],
      s["rx"]["packets"], s["rx"]["bytes"], s["tx"]["packets"], s["tx"]["bytes"], cpu)
PY
}

# === schoolwatch-agent ===
# A fresh process per poll (`snmp` polls once); wait4() gives each one's
# CPU (utime+stime, all threads) exactly. Not its peak RSS: a child forked
# from Python carries Python's high-water mark through exec (ru_maxrss
# would read ~14 MiB for `--version`), so peak RSS comes from a few more
# runs under GNU time, whose own fork is small (~1 MiB).
cat > "$work/runs.py" <<'PY'
import json, os, subprocess, sys, tempfile, time
n, out = int(sys.argv[1]), sys.argv[2]
cmd = sys.argv[3:]
walls, cpus, rss = [], [], 0
for i in range(n):
    with open(out, "wb") as f:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        walls.append(time.perf_counter() - t)
    if status != 0:
        sys.exit(f"{' '.join(cmd)} exited with {status >> 8} on run {i + 1}")
    cpus.append(ru.ru_utime + ru.ru_stime)
with tempfile.NamedTemporaryFile("r") as m:
    for _ in range(min(n, 10)):
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", m.name, *cmd], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        m.seek(0)
        rss = max(rss, int(m.read().split()[-1]))
print(json.dumps({"walls": walls, "cpus": cpus, "rss_kib": rss}))
PY
agent_poll=("$agent_bin" --config /nonexistent/agent.toml --log-level error snmp
  --target 10.199.0.2:161 --community "$COMMUNITY" --json)
"${agent_poll[@]}" > "$work/agent.json"  # warm the page cache; must succeed
# Process start alone: the same binary parsing its arguments and exiting.
python3 "$work/runs.py" "$N" /dev/null "$agent_bin" snmp --help > "$work/agent-start.json"
a0=$(snapshot)
python3 "$work/runs.py" "$N" "$work/agent.json" "${agent_poll[@]}" > "$work/agent-runs.json"
a1=$(snapshot)
# The command has no polling loop; `--interval-for-rates` polls twice in one
# process, so (two polls) - (one poll) is a poll without process start.
python3 "$work/runs.py" "$N" /dev/null "${agent_poll[@]}" --interval-for-rates 0.001 > "$work/agent-twice.json"

# === snmp_exporter ===
# Debian's /etc/prometheus/snmp.yml holds no modules (MIB licences); the
# generator needs MIB files Debian does not ship either. So the modules are
# written here in the generator's output format: `if_mib` as upstream's
# generator.yml defines it (walk sysUpTime, interfaces, ifXTable; ifAlias,
# ifDescr and ifName as labels), and `schoolwatch_oids` with the OIDs the
# agent asks for.
python3 - "$COMMUNITY" > "$work/snmp.yml" <<'PY'
import sys
community = sys.argv[1]
IF, IFX = "1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1"
if_table = [(1, "ifIndex", "gauge"), (2, "ifDescr", None), (3, "ifType", "EnumAsInfo"), (4, "ifMtu", "gauge"),
            (5, "ifSpeed", "gauge"), (6, "ifPhysAddress", "PhysAddress48"), (7, "ifAdminStatus", "gauge"),
            (8, "ifOperStatus", "gauge"), (9, "ifLastChange", "gauge"), (10, "ifInOctets", "counter"),
            (11, "ifInUcastPkts", "counter"), (12, "ifInNUcastPkts", "counter"), (13, "ifInDiscards", "counter"),
            (14, "ifInErrors", "counter"), (15, "ifInUnknownProtos", "counter"), (16, "ifOutOctets", "counter"),
            (17, "ifOutUcastPkts", "counter"), (18, "ifOutNUcastPkts", "counter"), (19, "ifOutDiscards", "counter"),
            (20, "ifOutErrors", "counter"), (21, "ifOutQLen", "gauge")]
if_x = [(1, "ifName", None), (2, "ifInMulticastPkts", "counter"), (3, "ifInBroadcastPkts", "counter"),
        (4, "ifOutMulticastPkts", "counter"), (5, "ifOutBroadcastPkts", "counter"), (6, "ifHCInOctets", "counter"),
        (7, "ifHCInUcastPkts", "counter"), (8, "ifHCInMulticastPkts", "counter"), (9, "ifHCInBroadcastPkts", "counter"),
        (10, "ifHCOutOctets", "counter"), (11, "ifHCOutUcastPkts", "counter"), (12, "ifHCOutMulticastPkts", "counter"),
        (13, "ifHCOutBroadcastPkts", "counter"), (14, "ifLinkUpDownTrapEnable", "gauge"), (15, "ifHighSpeed", "gauge"),
        (16, "ifPromiscuousMode", "gauge"), (17, "ifConnectorPresent", "gauge"), (18, "ifAlias", None),
        (19, "ifCounterDiscontinuityTime", "gauge")]
LOOKUPS = [("ifAlias", f"{IFX}.18"), ("ifDescr", f"{IF}.2"), ("ifName", f"{IFX}.1")]

def column(base, num, name, typ):
    m = {"name": name, "oid": f"{base}.{num}", "type": typ,
         "indexes": [{"labelname": "ifIndex", "type": "gauge"}],
         "lookups": [{"labels": ["ifIndex"], "labelname": l, "oid": o, "type": "DisplayString"} for l, o in LOOKUPS]}
    return m

def module(walk, get, metrics):
    return {"walk": walk, "get": get, "metrics": metrics, "version": 2, "auth": {"community": community}}

sys_up = {"name": "sysUpTime", "oid": "1.3.6.1.2.1.1.3", "type": "gauge"}
if_mib = module(["1.3.6.1.2.1.2", "1.3.6.1.2.1.31.1.1"], ["1.3.6.1.2.1.1.3.0"],
                [sys_up, {"name": "ifNumber", "oid": "1.3.6.1.2.1.2.1", "type": "gauge"}]
                + [column(IF, n, name, t) for n, name, t in if_table if t]
                + [column(IFX, n, name, t) for n, name, t in if_x if t])
# The agent's IF_COLUMNS (agent/src/collect/snmp/oids.rs) and its system
# group scalars.
same_cols = [(IF, 2, "ifDescr"), (IF, 5, "ifSpeed"), (IF, 8, "ifOperStatus"), (IF, 10, "ifInOctets"),
             (IF, 16, "ifOutOctets"), (IFX, 1, "ifName"), (IFX, 6, "ifHCInOctets"), (IFX, 10, "ifHCOutOctets"),
             (IFX, 15, "ifHighSpeed"), (IFX, 18, "ifAlias")]
types = {"ifDescr": "DisplayString", "ifName": "DisplayString", "ifAlias": "DisplayString",
         "ifInOctets": "counter", "ifOutOctets": "counter", "ifHCInOctets": "counter", "ifHCOutOctets": "counter"}
system = [("sysDescr", "1.3.6.1.2.1.1.1", "DisplayString"), ("sysObjectID", "1.3.6.1.2.1.1.2", "OctetString"),
          ("sysUpTime", "1.3.6.1.2.1.1.3", "gauge"), ("sysName", "1.3.6.1.2.1.1.5", "DisplayString"),
          ("sysLocation", "1.3.6.1.2.1.1.6", "DisplayString")]
# Then, as the agent's poll goes on: UPS-MIB scalars (in the same GET),
# ENTITY-MIB entPhysicalClass and Printer-MIB supplies (walked; snmpd has
# neither, so each costs one request).
ups = [("upsOutputSource", "1.3.6.1.2.1.33.1.4.1"), ("upsBatteryStatus", "1.3.6.1.2.1.33.1.2.1"),
       ("upsEstimatedMinutesRemaining", "1.3.6.1.2.1.33.1.2.3"), ("upsEstimatedChargeRemaining", "1.3.6.1.2.1.33.1.2.4")]
others = [("entPhysicalClass", "1.3.6.1.2.1.47.1.1.1.1.5"), ("prtMarkerSuppliesDescription", "1.3.6.1.2.1.43.11.1.1.6"),
          ("prtMarkerSuppliesMaxCapacity", "1.3.6.1.2.1.43.11.1.1.8"), ("prtMarkerSuppliesLevel", "1.3.6.1.2.1.43.11.1.1.9")]
same = module([f"{b}.{n}" for b, n, _ in same_cols] + [o for _, o in others],
              [f"{o}.0" for _, o, _ in system] + [f"{o}.0" for _, o in ups],
              [{"name": n, "oid": o, "type": t} for n, o, t in system if n != "sysObjectID"]
              + [{"name": n, "oid": o, "type": "gauge"} for n, o in ups]
              + [column(b, n, name, types.get(name, "gauge")) for b, n, name in same_cols]
              + [{"name": n, "oid": o, "type": "gauge", "indexes": [{"labelname": "index", "type": "gauge"}]}
                 for n, o in others if not n.endswith("Description")])

import json
# JSON is YAML; the exporter's loader takes it as is.
print(json.dumps({"if_mib": if_mib, "schoolwatch_oids": same}, indent=1))
PY
eport=$(free_port)
prometheus-snmp-exporter --config.file="$work/snmp.yml" --web.listen-address="127.0.0.1:$eport" \
  --log.level=warn 2>"$work/exporter.log" &
exporter=$!; pids+=("$exporter")
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$eport/metrics" && break; sleep 0.1; done
scrape() { curl -sf "http://127.0.0.1:$eport/snmp?target=10.199.0.2:161&module=$1" "${@:2}"; }
# The exporter is a long-running server: warm it (first requests allocate
# its pools) before measuring, as Prometheus would have.
for m in schoolwatch_oids if_mib; do for _ in 1 2 3; do scrape "$m" -o /dev/null; done; done
exporter_batch() {
  local m=$1 c0 c1
  c0=$(cpu_seconds "$exporter")
  for _ in $(seq "$N"); do
    scrape "$m" -o "$work/exporter-$m.txt" -w '%{time_total}\n' >> "$work/exporter-$m.walls"
  done
  c1=$(cpu_seconds "$exporter")
  echo "$c0 $c1"
}
s0=$(snapshot); scpu=$(exporter_batch schoolwatch_oids); s1=$(snapshot)
m0=$(snapshot); mcpu=$(exporter_batch if_mib); m1=$(snapshot)
erss=$(peak_rss_kib "$exporter")

# === sanity: both tools read the same values ===
# port1's counters move (5 datagrams/s), so each read must lie between a
# snmpget before and one after, and the reads must not go backwards.
hc_in=1.3.6.1.2.1.31.1.1.1.6.3 hc_out=1.3.6.1.2.1.31.1.1.1.10.3
get2() { snmpget -v2c -c "$COMMUNITY" -Oqv -t 2 -r 1 10.199.0.2 "$hc_in" "$hc_out" | tr '\n' ' '; }
[ "$(walk 1.3.6.1.2.1.31.1.1.1.1.3 | sed 's/.*STRING: //; s/"//g')" = port1 ] || { echo "ifIndex 3 is not port1" >&2; exit 1; }
before=$(get2)
"${agent_poll[@]}" > "$work/agent-check.json"
scrape schoolwatch_oids -o "$work/exporter-check.txt"
after=$(get2)

out=$(mktemp)
python3 - "$N" "$work" "$a0" "$a1" "$s0" "$s1" "$scpu" "$m0" "$m1" "$mcpu" "$erss" "$before" "$after" \
  "$(prometheus-snmp-exporter --version 2>&1 | head -1)" "$(snmpd -v | awk '/NET-SNMP version/{print $3}')" \
  "$(git describe --always --dirty 2>/dev/null || echo unknown)" > "$out" <<'PY'
import json, math, os, platform, re, statistics, sys, time
n, work = int(sys.argv[1]), sys.argv[2]
snap = lambda s: list(map(float, s.split()))
a0, a1, s0, s1 = map(snap, sys.argv[3:7])
scpu = snap(sys.argv[7])
m0, m1 = snap(sys.argv[8]), snap(sys.argv[9])
mcpu = snap(sys.argv[10])
erss = float(sys.argv[11])
before, after = [int(x) for x in sys.argv[12].split()], [int(x) for x in sys.argv[13].split()]
ev, snmpd_v, rev = sys.argv[14], sys.argv[15], sys.argv[16]

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, math.ceil(p / 100 * len(xs)) - 1)]

def wire(x0, x1, polls=n):
    d = [(b - a) / polls for a, b in zip(x0, x1)]
    return {"req": d[0], "resp": d[2], "frames": d[4] + d[6], "bytes": d[5] + d[7], "snmpd": d[8]}

agent = json.load(open(f"{work}/agent-runs.json"))
start = json.load(open(f"{work}/agent-start.json"))
twice = json.load(open(f"{work}/agent-twice.json"))
marg_wall = statistics.median(twice["walls"]) - statistics.median(agent["walls"]) - 0.001
marg_cpu = statistics.mean(twice["cpus"]) - statistics.mean(agent["cpus"])
ew = {m: [float(x) for x in open(f"{work}/exporter-{m}.walls")] for m in ("schoolwatch_oids", "if_mib")}
# Between a0 and a1 the agent polled n times, then min(n, 10) more under
# GNU time for its RSS.
A = {"wall": agent["walls"], "cpu": statistics.mean(agent["cpus"]), "rss": agent["rss_kib"],
     **wire(a0, a1, n + min(n, 10))}
S = {"wall": ew["schoolwatch_oids"], "cpu": (scpu[1] - scpu[0]) / n, "rss": erss, **wire(s0, s1)}
M = {"wall": ew["if_mib"], "cpu": (mcpu[1] - mcpu[0]) / n, "rss": erss, **wire(m0, m1)}

# What each read for port1 (ifIndex 3) in the check round.
adoc = json.load(open(f"{work}/agent-check.json"))
ap1 = next((i for i in adoc.get("interfaces", []) if i.get("name") == "port1"), {})
a_in, a_out = ap1.get("in_octets"), ap1.get("out_octets")
a_rows = len(adoc.get("interfaces", []))
etext = open(f"{work}/exporter-check.txt").read()
def exp_val(metric):
    m = re.search(rf'^{metric}{{[^}}]*ifName="port1"[^}}]*}} (\S+)$', etext, re.M)
    return int(float(m.group(1))) if m else None
e_in, e_out = exp_val("ifHCInOctets"), exp_val("ifHCOutOctets")
e_rows = len(re.findall(r"^ifHCInOctets\{", etext, re.M))
# Every row: the same names, and counters the agent read no higher than the
# exporter's read just after.
def exp_by_name(metric):
    return {m.group(1): int(float(m.group(2))) for m in
            re.finditer(rf'^{metric}{{[^}}]*ifName="([^"]*)"[^}}]*}} (\S+)$', etext, re.M)}
ein, eout = exp_by_name("ifHCInOctets"), exp_by_name("ifHCOutOctets")
arows = {i["name"]: i for i in adoc.get("interfaces", [])}
same_names = set(arows) == set(ein)
equal = sum(1 for k, i in arows.items() if ein.get(k) == i["in_octets"] and eout.get(k) == i["out_octets"])
ordered = all(k in ein and i["in_octets"] <= ein[k] and i["out_octets"] <= eout[k] for k, i in arows.items())
def ok(lo, a, e, hi):
    return a is not None and e is not None and lo <= a <= e <= hi
sane = ok(before[0], a_in, e_in, after[0]) and ok(before[1], a_out, e_out, after[1])

cpu = open("/proc/cpuinfo").read()
model = re.search(r"model name\s*:\s*(.*)", cpu).group(1)
print("## SNMP polling of a 48-port switch vs snmp_exporter (`bench/snmp.sh`)\n")
print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({model}), Linux {platform.release()}, schoolwatch {rev}; "
      f"{ev}; net-snmp {snmpd_v}; load average {os.getloadavg()[0]:.2f} at the end (the cores are shared).\n")
print(f"Device: a real snmpd (net-snmp) in a network namespace made by the script, 48 ports (veth, `port1`..`port48`) "
      f"plus `lo` and its uplink: 50 IF-MIB rows. Both pollers run in the root namespace and reach it over a veth pair "
      f"(10.199.0.1/30 to 10.199.0.2/30), SNMPv2c, {n} polls each, one after another.\n")
print("| per poll | schoolwatch agent | snmp_exporter, same OIDs | ratio | snmp_exporter `if_mib` | ratio |")
print("|---|---|---|---|---|---|")
def row(label, key, fmt, f=lambda x: x):
    a, s, m = f(A[key]), f(S[key]), f(M[key])
    r = lambda x, y: f"{x / y:.2f}" if y else "n/a"
    print(f"| {label} | {fmt(a)} | {fmt(s)} | {r(a, s)} | {fmt(m)} | {r(a, m)} |")
ms = lambda x: f"{x * 1000:.1f} ms"
row("wall time, median", "wall", ms, statistics.median)
row("wall time, p95", "wall", ms, lambda w: pct(w, 95))
row("poller CPU (user+system)", "cpu", ms)
row("poller peak RSS", "rss", lambda x: f"{x / 1024:.1f} MiB")
row("SNMP requests (PDUs)", "req", lambda x: f"{x:.1f}")
row("SNMP response datagrams", "resp", lambda x: f"{x:.1f}")
row("frames on the uplink (both ways)", "frames", lambda x: f"{x:.1f}")
row("bytes on the uplink (both ways)", "bytes", lambda x: f"{x:.0f}")
row("snmpd CPU (the device's cost)", "snmpd", ms)
print()
print(f"What each polled. **schoolwatch agent**: `schoolwatch-agent snmp --target 10.199.0.2:161 --community C --json`, "
      f"a fresh process per poll (the command polls once), so its wall time and CPU include process start: "
      f"`schoolwatch-agent snmp --help` alone takes {statistics.median(start['walls']) * 1000:.1f} ms wall, "
      f"{statistics.mean(start['cpus']) * 1000:.1f} ms CPU and {start['rss_kib'] / 1024:.1f} MiB peak RSS; a second poll in the same process "
      f"(`--interval-for-rates 0.001`, less its 1 ms pause) adds {marg_wall * 1000:.1f} ms wall and "
      f"{marg_cpu * 1000:.1f} ms CPU (median and mean differences over {n} runs each). "
      f"**snmp_exporter, same OIDs**: module `schoolwatch_oids`, a GET of sysDescr, sysObjectID, sysUpTime, sysName, "
      f"sysLocation and four UPS-MIB scalars, walks of the agent's 10 IF-MIB columns (ifDescr, ifSpeed, ifOperStatus, "
      f"ifInOctets, ifOutOctets, ifName, ifHCInOctets, ifHCOutOctets, ifHighSpeed, ifAlias), of ENTITY-MIB "
      f"entPhysicalClass and of three Printer-MIB supply columns (absent on snmpd: one request each). **snmp_exporter `if_mib`**: "
      f"upstream's module (walks interfaces 1.3.6.1.2.1.2 and ifXTable 1.3.6.1.2.1.31.1.1, GET sysUpTime; "
      f"41 columns), written in the generator's format by the script since Debian ships no snmp.yml modules nor MIBs. "
      f"Exporter defaults: GETBULK max-repetitions 25, one subtree at a time; wall time is curl's `time_total` on "
      f"127.0.0.1, CPU the delta of the exporter's /proc/PID/stat over the batch (10 ms ticks), RSS its VmHWM "
      f"over both batches; the agent's CPU comes from wait4() per process, its peak RSS from GNU time (10 runs).")
print(f"Requests and response datagrams are nftables counters on udp/161 in the device's namespace; frames and bytes "
      f"are the uplink veth's counters (Ethernet frames without FCS; IP fragments of a large response count "
      f"one each); IPv6 is off and neighbours static, so nothing else crosses it.")
print(f"\nSanity check, one more poll of each right after an snmpget, then another snmpget. port1 (ifIndex 3; it "
      f"receives 5 datagrams/s, and snmpd refreshes its counters every few seconds) ifHCInOctets/ifHCOutOctets: snmpget before "
      f"in/out {before[0]}/{before[1]}, agent {a_in}/{a_out}, snmp_exporter {e_in}/{e_out}, snmpget after "
      f"{after[0]}/{after[1]}: {'consistent' if sane else 'NOT CONSISTENT'}. Interfaces in the answer: agent {a_rows}, "
      f"snmp_exporter {e_rows}, {'the same ifNames' if same_names else 'DIFFERENT ifNames'}; in and out octets "
      f"equal on {equal} of {a_rows} rows, {'none' if ordered else 'SOME'} read lower by the exporter (read second).")
PY
cat "$out"
write_section snmp "$out"
rm -f "$out"
