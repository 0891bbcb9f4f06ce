#!/usr/bin/env bash
# The credential agent's figures against a moto server on loopback, printed side by side with
# the peer design, AssumeRole on every request (STS on the request path, kube2iam #31/#178):
# start to ready; requests per second and p50/p99 of GET /v1/credentials on 1 to 32 keep-alive
# connections from a Rust load generator on the same machine; memory. Targets: at least
# 20,000 requests/s with p99 at most 1 ms.
#   STARTS=10 REQUESTS=50000 STS_REQUESTS=200 bench/agent.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup-test-env.sh >/dev/null
# The agent is timed in release; the harness around it (moto, the load generator) is a
# debug build, which does not change what is measured.
cargo build --release --locked -q -p airlock-cli
cargo build --locked -q -p airlock-cli --example bench_agent
AIRLOCK_BIN="$root/target/release/airlock" "$root/target/debug/examples/bench_agent"
