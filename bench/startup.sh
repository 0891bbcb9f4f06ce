#!/usr/bin/env bash
# Start-up time of the release binary: `airlock --help` and `airlock check --help`.
# Target: under 20 ms each. Prints median and p95 wall time over 200 runs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cargo build --release --locked -q -p airlock-cli
bin="$root/target/release/airlock"
python3 - "$bin" <<'PY'
import statistics, subprocess, sys, time
binary = sys.argv[1]
print(f"{'command':<28}{'median ms':>10}{'p95 ms':>10}{'target':>10}")
for args in (["--help"], ["check", "--help"], ["--version"]):
    samples = []
    for _ in range(200):
        t = time.perf_counter()
        subprocess.run([binary, *args], stdout=subprocess.DEVNULL, check=True)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    label = "airlock " + " ".join(args)
    print(f"{label:<28}{statistics.median(samples):>10.2f}{samples[int(len(samples)*0.95)]:>10.2f}{'< 20':>10}")
PY
