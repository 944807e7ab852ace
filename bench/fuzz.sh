#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time (FUZZ_SECONDS, default 60),
# growing fuzz/corpus/<target>; crashes land in fuzz/artifacts/<target> and
# are replayed by tests/tests/fuzz_regressions.rs from then on. Writes the
# runs to bench/RESULTS.md.
#
# cargo-fuzz needs nightly compiler flags; on the stable toolchain here,
# RUSTC_BOOTSTRAP=1 lets them through.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1

out=$(mktemp)
{
  echo "## Fuzzing (\`bench/fuzz.sh\`)"
  echo
  echo "cargo-fuzz (libFuzzer, AddressSanitizer), ${SECONDS_PER_TARGET} s per target, $(date -u +%Y-%m-%d)."
  echo
  echo "| target | runs | corpus entries (minimized) | crashes kept |"
  echo "|---|---|---|---|"
} > "$out"
for target in decode_body exposition_escaping; do
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  log=$(mktemp)
  (cd fuzz && cargo fuzz run "$target" "corpus/$target" -- \
      -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 \
      -artifact_prefix="artifacts/$target/" -print_final_stats=1) >"$log" 2>&1 || true
  # Keep the corpus small: only entries that add coverage.
  (cd fuzz && cargo fuzz cmin "$target" "corpus/$target") >/dev/null 2>&1 || true
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
  crashes=$(find "fuzz/artifacts/$target" -type f | wc -l)
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  echo "| $target | ${runs:-?} | $corpus | $crashes |" >> "$out"
  tail -5 "$log"
  rm -f "$log"
done
cat "$out"
write_section fuzz "$out"
rm -f "$out"
