#!/usr/bin/env bash
# What a shell prompt pays for knowing the account: `airlock whoami --format prompt` with
# its cache warm and cold, and the plain text form, side by side with the peer a hand-made
# prompt uses, the AWS CLI (`aws sts get-caller-identity` then `aws iam
# list-account-aliases`). Every command resolves the same role profile (AssumeRole from a
# base profile) against a moto server on loopback, so the figures are the tools' own cost
# plus moto's answers, not the Internet's.
#   RUNS=30 bench/whoami.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${RUNS:-30}
scripts/setup-test-env.sh >/dev/null
cargo build --release --locked -q -p airlock-cli
airlock="$root/target/release/airlock"
venv="$root/.venv/bin"

work=$(mktemp -d)
moto_pid=
cleanup() {
  if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$("$venv/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
  sleep 0.1
done

mkdir -p "$work/home/.aws"
cat >"$work/home/.aws/config" <<EOF
[profile dev-identity-base]
region = us-east-1
[profile prod-website-admin]
role_arn = arn:aws:iam::111111111111:role/Admin
source_profile = dev-identity-base
region = us-east-1
EOF
cat >"$work/home/.aws/credentials" <<EOF
[dev-identity-base]
aws_access_key_id = AKIDAIRLOCKBENCHFAKE
aws_secret_access_key = airlock-bench-fake-secret-not-a-real-key
EOF
cat >"$work/airlock.toml" <<EOF
[accounts]
org = "bboq"
envs = ["dev", "test", "prod"]
EOF

export HOME="$work/home" AWS_CONFIG_FILE="$work/home/.aws/config"
export AWS_SHARED_CREDENTIALS_FILE="$work/home/.aws/credentials"
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_EC2_METADATA_DISABLED=true
export AIRLOCK_CONFIG="$work/airlock.toml" XDG_CACHE_HOME="$work/cache" NO_COLOR=1
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
"$airlock" accounts alias set bboq-prod-website --profile prod-website-admin >/dev/null

# time_it NAME COMMAND...: runs COMMAND $runs times, prints p50 and p95 in milliseconds.
time_it() {
  local name=$1; shift
  "$venv/python" - "$runs" "$name" "$@" <<'PY'
import subprocess, sys, time
runs, name, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
times = []
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run(["bash", "-c", command[0]], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times.append((time.perf_counter() - start) * 1000)
times.sort()
p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
print(f"{name:<58} {p(0.5):9.1f} {p(0.95):9.1f}")
PY
}

printf '%-58s %9s %9s\n' "command ($runs runs, role profile, moto on loopback)" "p50 ms" "p95 ms"
"$airlock" whoami --format prompt --profile prod-website-admin >/dev/null
time_it "floor: airlock --version (start a process, print)" "'$airlock' --version"
time_it "airlock whoami --format prompt (cached)" \
  "'$airlock' whoami --format prompt --profile prod-website-admin"
time_it "airlock whoami --format prompt (cache cold)" \
  "rm -rf '$work/cache' && '$airlock' whoami --format prompt --profile prod-website-admin"
time_it "airlock whoami (text: AssumeRole, STS, IAM)" \
  "'$airlock' whoami --profile prod-website-admin"
time_it "peer: aws sts get-caller-identity; aws iam list-account-aliases" \
  "'$venv/aws' sts get-caller-identity --profile prod-website-admin && '$venv/aws' iam list-account-aliases --profile prod-website-admin"
echo
echo "$("$airlock" whoami --format prompt --profile prod-website-admin) is what the prompt shows."
