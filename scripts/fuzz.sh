#!/usr/bin/env bash
# Fuzzes the firmware's decoders (firmware/fuzz: the wire-protocol frames, the Feetech STS status
# and instruction packets) with libFuzzer for SECONDS each (default 300), without cargo-fuzz:
# the same flags cargo-fuzz passes, on a nightly toolchain (`rustup toolchain install nightly`).
# Not part of CI (it needs nightly and minutes per target). Prints each target's executions and
# whether it found a crash; a crash's input is left in the current directory (crash-*).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(frame_decoder sts_status_decoder sts_instruction_decoder)
triple="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="${REGRASP_FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/regrasp-fuzz-target}"
# --target keeps the instrumentation off build scripts, as cargo-fuzz does.
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
  cargo +nightly build --release --manifest-path firmware/fuzz/Cargo.toml --bins --target "$triple"
status=0
for t in "${targets[@]}"; do
  corpus="$CARGO_TARGET_DIR/corpus/$t"
  mkdir -p "$corpus"
  if "$CARGO_TARGET_DIR/$triple/release/$t" "$corpus" -max_total_time="$seconds" -print_final_stats=1 \
    > "$CARGO_TARGET_DIR/$t.log" 2>&1; then
    echo "$t: no crash in ${seconds} s ($(grep -m1 'stat::number_of_executed_units' "$CARGO_TARGET_DIR/$t.log" | awk '{print $2}') executions)"
  else
    echo "$t: CRASH, see $CARGO_TARGET_DIR/$t.log"
    status=1
  fi
done
exit $status
