#!/usr/bin/env bash
# `airlock deploy` for CI: the script behind the GitHub Action (action.yml) and the Jenkins
# step (vars/airlockDeploy.groovy). GitLab cannot include a script file, so its template
# (deploy/ci/gitlab/airlock-deploy.gitlab-ci.yml) carries the same steps inline.
#
# Every input arrives in an environment variable and is only ever expanded inside double
# quotes, never pasted into shell text: a parameter value cannot become a command.
#
#   AIRLOCK_DEPLOY_JOB        the allowlisted job to run (required)
#   AIRLOCK_DEPLOY_PARAMS     the job's parameters, NAME=VALUE, one a line; blank lines and
#                             lines starting with # are skipped, spaces around a line trimmed
#   AIRLOCK_DEPLOY_IMAGE      the deployment image, REPO@sha256:<digest>
#   AIRLOCK_DEPLOY_TIMEOUT    the job's deadline (30m, 1h30m)
#   AIRLOCK_DEPLOY_WATCHDOG   give up after this long without news (default: airlock's 120 s)
#   AIRLOCK_DEPLOY_REGION     the AWS region (default: AWS_REGION)
#   AIRLOCK_DEPLOY_LOCAL      true: the local lane of airlock.toml instead of AWS
#   AIRLOCK_VERSION           the release to install when airlock is not on PATH
#   AIRLOCK_RELEASE_URL       where releases are downloaded from
#                             (default https://github.com/airlock-dev/airlock/releases/download)
#   AIRLOCK_SHA256            optional: the release tarball's SHA-256, pinned by you
#   AIRLOCK_INSTALL_DIR       where to install it (default: a new directory under RUNNER_TEMP
#                             or TMPDIR)
# airlock itself reads AIRLOCK_LANE_TOPIC_ARN, AIRLOCK_LANE_FEEDBACK_QUEUE_URL,
# AIRLOCK_LANE_SIGNING_KEY_ID, AIRLOCK_CONFIG and the AWS credentials from the environment.
#
# Exit code: airlock deploy's, which is the job's own (see docs/ci.md); 2 when an input here
# is wrong and 250 when airlock could not be installed; in both cases nothing was sent.
set -euo pipefail

readonly USAGE=2
readonly INSTALL_FAILED=250
readonly DEFAULT_RELEASE_URL=https://github.com/airlock-dev/airlock/releases/download
readonly TARGET=x86_64-unknown-linux-gnu

fail() {
  local code=$1
  shift
  printf 'airlock-deploy: error: %s\n' "$*" >&2
  exit "$code"
}

# Fetches URL to FILE over HTTPS; plain HTTP only from this machine (a mirror under test).
download() {
  local url=$1 file=$2
  if command -v curl >/dev/null 2>&1; then
    curl --fail --silent --show-error --location --proto-redir '=https' --retry 3 \
      --output "$file" "$url" || fail "$INSTALL_FAILED" "downloading $url failed"
  elif command -v wget >/dev/null 2>&1; then
    wget --quiet --tries=3 --output-document="$file" "$url" ||
      fail "$INSTALL_FAILED" "downloading $url failed"
  else
    fail "$INSTALL_FAILED" "airlock is not on PATH and neither curl nor wget is there to download it"
  fi
}

# Downloads the release tarball and SHA256SUMS of AIRLOCK_VERSION, checks the tarball against
# both (and against AIRLOCK_SHA256 when given), unpacks it and puts airlock on PATH.
install_airlock() {
  local version=${AIRLOCK_VERSION:-}
  version=${version#v}
  [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] ||
    fail "$USAGE" "AIRLOCK_VERSION: ${AIRLOCK_VERSION:-(empty)} is not a release version such as 0.1.0"
  [[ "$(uname -s) $(uname -m)" == "Linux x86_64" ]] ||
    fail "$INSTALL_FAILED" "there is no airlock release for $(uname -s) $(uname -m); put airlock on PATH"
  local base=${AIRLOCK_RELEASE_URL:-$DEFAULT_RELEASE_URL}
  base=${base%/}
  [[ $base =~ ^https:// || $base =~ ^http://(127\.0\.0\.1|localhost)(:[0-9]+)?(/|$) ]] ||
    fail "$USAGE" "AIRLOCK_RELEASE_URL: $base must be an https:// URL"
  local pinned=${AIRLOCK_SHA256:-}
  [[ -z $pinned || $pinned =~ ^[0-9a-f]{64}$ ]] ||
    fail "$USAGE" "AIRLOCK_SHA256: expected 64 lower-case hex digits"

  local dir=${AIRLOCK_INSTALL_DIR:-}
  if [[ -z $dir ]]; then
    dir=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/airlock.XXXXXX")
  fi
  mkdir -p "$dir"
  local asset="airlock-${version}-${TARGET}.tar.gz"
  local release="$base/v$version"
  printf 'airlock-deploy: installing airlock %s from %s\n' "$version" "$release"
  download "$release/$asset" "$dir/$asset"
  download "$release/SHA256SUMS" "$dir/SHA256SUMS"

  local listed
  listed=$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1 }' "$dir/SHA256SUMS")
  [[ $listed =~ ^[0-9a-f]{64}$ ]] ||
    fail "$INSTALL_FAILED" "SHA256SUMS of release v$version has no single checksum for $asset"
  [[ -z $pinned || $pinned == "$listed" ]] ||
    fail "$INSTALL_FAILED" "SHA256SUMS lists $listed for $asset, but AIRLOCK_SHA256 pins $pinned"
  local actual
  actual=$(sha256sum "$dir/$asset")
  actual=${actual%% *}
  [[ $actual == "$listed" ]] ||
    fail "$INSTALL_FAILED" "$asset has SHA-256 $actual, but SHA256SUMS lists $listed: refusing to run it"

  mkdir -p "$dir/unpacked"
  tar -xzf "$dir/$asset" -C "$dir/unpacked" || fail "$INSTALL_FAILED" "unpacking $asset failed"
  local binary
  binary=$(find "$dir/unpacked" -type f -name airlock -perm -u+x | head -n 1)
  [[ -n $binary ]] || fail "$INSTALL_FAILED" "$asset holds no executable named airlock"
  PATH="$(dirname "$binary"):$PATH"
  export PATH
}

[[ -n ${AIRLOCK_DEPLOY_JOB:-} ]] || fail "$USAGE" "no job: set the job to deploy (AIRLOCK_DEPLOY_JOB)"
args=(deploy --job "$AIRLOCK_DEPLOY_JOB")
while IFS= read -r line || [[ -n $line ]]; do
  line=${line#"${line%%[![:space:]]*}"}
  line=${line%"${line##*[![:space:]]}"}
  [[ -z $line || $line == \#* ]] && continue
  [[ $line == *=* ]] || fail "$USAGE" "params: \"$line\" is not NAME=VALUE"
  args+=(--param "$line")
done <<<"${AIRLOCK_DEPLOY_PARAMS:-}"
[[ -z ${AIRLOCK_DEPLOY_IMAGE:-} ]] || args+=(--image "$AIRLOCK_DEPLOY_IMAGE")
[[ -z ${AIRLOCK_DEPLOY_TIMEOUT:-} ]] || args+=(--timeout "$AIRLOCK_DEPLOY_TIMEOUT")
[[ -z ${AIRLOCK_DEPLOY_WATCHDOG:-} ]] || args+=(--watchdog "$AIRLOCK_DEPLOY_WATCHDOG")
[[ -z ${AIRLOCK_DEPLOY_REGION:-} ]] || args+=(--region "$AIRLOCK_DEPLOY_REGION")
case ${AIRLOCK_DEPLOY_LOCAL:-false} in
  true) args+=(--local) ;;
  false) ;;
  *) fail "$USAGE" "local: expected true or false, got \"$AIRLOCK_DEPLOY_LOCAL\"" ;;
esac

command -v airlock >/dev/null 2>&1 || install_airlock
printf 'airlock-deploy: %s, job %s\n' "$(airlock --version)" "$AIRLOCK_DEPLOY_JOB"
# exec: CI's SIGINT/SIGTERM on cancel reaches airlock itself, which then sends a signed
# cancel request, and the step ends with airlock's exit code, the job's.
exec airlock "${args[@]}"
