#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (the moto virtualenv,
# the pinned prebuilt cargo-nextest in .tools/bin), then runs every test of every crate with
# cargo nextest.
# Extra arguments go to nextest, e.g. `scripts/test.sh -p airlock-check`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scripts/setup-test-env.sh
export PATH="$root/.tools/bin:$PATH"
# `--no-tests=fail`: a suite that silently ran nothing is a failure, not a pass.
exec cargo nextest run --workspace --locked --no-fail-fast --no-tests=fail "$@"
