#!/usr/bin/env bash
# The dispatcher's figures against a moto server on loopback: handler latency per valid
# request (verify, nonce, lock, RunTask, feedback: every AWS call real HTTP to moto), and the
# Lambda bootstrap's cold start under a runtime-API emulator (process start to init done, and
# to the first invocation answered). Target (issue 6): cold start under 30 ms.
#   REQUESTS=100 COLD_STARTS=10 bench/dispatch.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup-test-env.sh >/dev/null
# The bootstrap is timed in release; the harness around it (moto fixtures, runtime API) is
# a debug build, which does not change what is measured.
cargo build --release --locked -q -p airlock-dispatch --bin airlock-dispatch
cargo build --locked -q -p airlock-dispatch --example bench_dispatch
AIRLOCK_DISPATCH_BIN="$root/target/release/airlock-dispatch" \
  "$root/target/debug/examples/bench_dispatch" | grep -v '^{"audit"'
