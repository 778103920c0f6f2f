#!/usr/bin/env bash
# The differential test of crates/policy against @cloud-copilot/iam-simulate,
# as CI runs it: a fixed seed and a small count (well under a minute once the
# policy crate is built). Large runs are made by hand; see README.md.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"

if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: the differential test is skipped (it needs Node.js 20 or later)"
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
(cd "$root" && cargo build --locked -p policy --example decide_jsonl)
DECIDE_BIN="$root/target/debug/examples/decide_jsonl" \
  node run.mjs --seed "${DIFF_SEED:-1}" --count "${DIFF_COUNT:-2000}"
