#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with only the Rust
# toolchain: installs the system packages the tests run for real (peer
# exporters, iperf3, ...) when missing, then format check, clippy with
# warnings as errors, the build, and every test. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests drive as real peers.
packages=(
  iproute2                  # ip netns / veth for namespace tests
  iperf3                    # traffic of known volume
  fping                     # peer prober the agent's ICMP probes are compared with
  prometheus-node-exporter  # peer exporter the agent is compared with
  prometheus                # real Prometheus scraping the collector; promtool
  prometheus-alertmanager   # real Alertmanager for the alert routing test; amtool
  nftables                  # nft rules in a test namespace for the firewall check
  dpkg-dev                  # dpkg-shlibdeps: cargo-deb's Depends for the packages test
  systemd                   # systemd-analyze verify/security, systemd-sysusers (packages test)
  openssl                   # an independent CA fingerprint (one-line enrollment test)
  chromium                  # headless browser for the status and local page tests
  chromium-driver           # chromedriver: WebDriver for that browser (login form, DOM, screenshots)
  fonts-dejavu-core         # a font with Vietnamese glyphs for the page screenshots
  snmpd                     # real SNMP agent (v2c and v3 authPriv) the poller is tested against
  snmp                      # snmpget/snmpwalk: ground truth for polled values
  snmpsim                   # recorded real devices served over SNMP
  ieee-data                 # the IEEE OUI registry: vendor from a MAC
  prometheus-snmp-exporter  # peer poller for the SNMP benchmark's comparison
  victoria-metrics          # real remote_write receiver
  postgresql                # the PostgreSQL store: second test pass on a throwaway cluster
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# cargo-deb builds the .deb files in tests/tests/packages.rs. Installed once
# (it compiles for a few minutes), found on PATH afterwards.
if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "==> cargo install cargo-deb"
  cargo install cargo-deb --version '^3' --locked
fi

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo build (binaries the end-to-end tests run)"
cargo build --workspace --bins --locked
echo "==> cargo test"
cargo test --workspace --locked
# Again on PostgreSQL: the collector's store tests and every end-to-end
# test, each collector on a fresh database of a throwaway cluster (started
# and removed by the wrapper). The other crates never touch the store. The
# same profile and features as above: nothing is rebuilt; doctests ran above.
echo "==> cargo test on PostgreSQL"
scripts/with-postgres.sh cargo test --locked -p schoolwatch-collector -p schoolwatch-tests --lib --bins --tests
echo "==> cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --document-private-items --locked --quiet
echo "==> protocol crate on its own (no feature unification hiding a gap)"
cargo check -p schoolwatch-protocol --locked --quiet
# The Windows agent must stay buildable; checked when the target is
# installed (`rustup target add x86_64-pc-windows-gnu`), which a fresh
# machine may lack.
if rustup target list --installed 2>/dev/null | grep -q '^x86_64-pc-windows-gnu$'; then
  echo "==> cargo check the agent for Windows"
  cargo check --target x86_64-pc-windows-gnu -p schoolwatch-agent --locked --quiet
else
  echo "==> skipping the Windows check: the x86_64-pc-windows-gnu target is not installed"
fi
