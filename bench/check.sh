#!/usr/bin/env bash
# airlock check against checkov on each shared corpus, in the same run, on this machine:
# median wall time and peak RSS of each, side by side, with the ratio.
#
#   bench/check.sh                  every corpus, airlock 5 runs, checkov 1 run
#   RUNS=9 CHECKOV_RUNS=3 bench/check.sh
#   SKIP_CHECKOV=1 bench/check.sh   airlock alone (no checkov venv needed)
#
# Corpora come from AIRLOCK_CORPORA (default ../shared/corpora). Targets (issue 3): at least
# 100x faster than checkov on every corpus, under 10 ms on an empty folder, peak RSS < 100 MB.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
corpora=${AIRLOCK_CORPORA:-$root/../shared/corpora}
if [ ! -d "$corpora" ]; then
  echo "bench/check.sh: no corpora at $corpora (set AIRLOCK_CORPORA); nothing to measure" >&2
  exit 3
fi
if [ -z "${SKIP_CHECKOV:-}" ]; then
  scripts/setup-test-env.sh --checkov >/dev/null
fi
if [ ! -x /usr/bin/time ]; then
  apt-get update -qq && apt-get install -y -qq time >/dev/null
fi
cargo build --release --locked -q -p airlock-cli --no-default-features
python3 - "$root/target/release/airlock" "$corpora" <<'PY'
import os, statistics, subprocess, sys, tempfile, time

airlock, corpora = sys.argv[1], sys.argv[2]
runs = int(os.environ.get("RUNS", "5"))
checkov_runs = int(os.environ.get("CHECKOV_RUNS", "1"))
skip_checkov = bool(os.environ.get("SKIP_CHECKOV"))
checkov = os.path.join(os.getcwd(), ".venv-checkov", "bin", "checkov")

def measure(cmd, n):
    """Median wall seconds and the largest peak RSS (MB) over n runs of cmd.

    Peak RSS comes from GNU time (%M), which execs the command from a small process: the
    rusage of a child forked from this Python would count Python's own pages."""
    walls, peaks = [], []
    with tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss:
        for _ in range(n):
            start = time.perf_counter()
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            walls.append(time.perf_counter() - start)
            rss.seek(0)
            peaks.append(int(rss.read().split()[-1]) / 1024)
    return statistics.median(walls), max(peaks)

empty = tempfile.mkdtemp(prefix="airlock-bench-empty-")
targets = [("(empty folder)", empty)] + [
    (name, os.path.join(corpora, name))
    for name in sorted(os.listdir(corpora))
    if os.path.isdir(os.path.join(corpora, name)) and name != "baselines"
]
print(f"{'corpus':<30}{'airlock s':>11}{'MB':>7}{'checkov s':>11}{'MB':>7}{'speed-up':>10}")
for name, path in targets:
    a_wall, a_rss = measure([airlock, "check", "--format", "json", "--output", os.devnull, path], runs)
    if skip_checkov:
        print(f"{name:<30}{a_wall:>11.4f}{a_rss:>7.1f}{'-':>11}{'-':>7}{'-':>10}")
        continue
    c_wall, c_rss = measure([checkov, "-d", path, "--quiet", "--compact", "-o", "json",
                             "--skip-download"], checkov_runs)
    print(f"{name:<30}{a_wall:>11.4f}{a_rss:>7.1f}{c_wall:>11.2f}{c_rss:>7.1f}{c_wall / a_wall:>9.0f}x")
os.rmdir(empty)
PY
