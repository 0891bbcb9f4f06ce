#!/usr/bin/env bash
# airlock check against checkov 3.3.30, finding by finding, on each shared corpus: per airlock
# rule, the resources both found, only checkov found, and only airlock found. The mapping of
# checkov ids to rules is read from airlock (`--list-rules --format json`, field `checkov`).
#
#   bench/parity.sh                      runs checkov (its venv is set up on first use)
#   CHECKOV_BASELINES=1 bench/parity.sh  uses ../shared/baselines/checkov/*.tsv instead
#   DETAILS=1 bench/parity.sh            also lists every differing resource
#
# Every "only checkov" row must be explained in docs/parity.md (by corpus/file:line and check
# id); the script lists the unexplained ones and exits 1 if there are any.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
corpora=${AIRLOCK_CORPORA:-$root/../shared/corpora}
if [ ! -d "$corpora" ]; then
  echo "bench/parity.sh: no corpora at $corpora (set AIRLOCK_CORPORA); nothing to compare" >&2
  exit 3
fi
airlock=${AIRLOCK_BIN:-}
if [ -z "$airlock" ]; then
  cargo build --release --locked -q -p airlock-cli --no-default-features
  airlock=$root/target/release/airlock
fi
args=("$airlock" "$corpora" --explained "$root/docs/parity.md")
if [ -n "${CHECKOV_BASELINES:-}" ]; then
  args+=(--baselines "${CHECKOV_BASELINES_DIR:-$corpora/../baselines/checkov}")
else
  scripts/setup-test-env.sh --checkov >/dev/null
  args+=(--checkov "$root/.venv-checkov/bin/checkov")
fi
if [ -n "${DETAILS:-}" ]; then
  args+=(--details)
fi
exec python3 "$root/bench/parity.py" "${args[@]}"
