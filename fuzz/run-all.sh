#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, one after another,
# pinned to CPU (default 1), growing fuzz/corpus/<target>; then minimises
# each corpus. Needs cargo-fuzz and a nightly toolchain (rustup).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
cpu="${CPU:-1}"
for target in policy_parse query_params sigv4_request jwt admission_review aws_chunked; do
  mkdir -p "corpus/$target"
  echo "== $target: $seconds s"
  taskset -c "$cpu" cargo +nightly fuzz run -O --fuzz-dir . "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=16384 -print_final_stats=1 2>&1 | tail -n 25
  cargo +nightly fuzz cmin -O --fuzz-dir . "$target" "corpus/$target" >/dev/null 2>&1 || true
done
