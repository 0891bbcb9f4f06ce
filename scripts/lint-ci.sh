#!/usr/bin/env bash
# Lints the CI integrations with the tools of scripts/setup-ci-tools.sh:
#   - actionlint on the example workflow, with `uses: airlock-dev/airlock@…` pointed at this
#     tree's action.yml, so that its inputs are checked against the action's (and its run:
#     steps by shellcheck);
#   - check-jsonschema with SchemaStore's schemas on action.yml (github-action), the example
#     workflow (github-workflow), the GitLab template and example (gitlab-ci);
#   - shellcheck on resources/airlock/deploy.sh and on the GitLab template's script.
#   scripts/lint-ci.sh [--workflow FILE]   (another workflow in place of the example)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$root/.tools/bin:$PATH"

workflow=$root/examples/ci/github/deploy.yml
if [[ ${1:-} == --workflow ]]; then
  workflow=${2:?--workflow needs a file}
fi
for tool in actionlint check-jsonschema shellcheck; do
  command -v "$tool" >/dev/null || { echo "lint-ci: $tool is missing: run scripts/setup-ci-tools.sh" >&2; exit 2; }
done

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
check() {
  local what=$1
  shift
  if "$@"; then
    echo "lint-ci: ok: $what"
  else
    echo "lint-ci: FAILED: $what" >&2
    failed=1
  fi
}

# actionlint finds local actions relative to the repository root: lay out a repository whose
# action is this tree's action.yml and whose workflow is the example, using it as `./`.
mkdir -p "$scratch/repo/.github/workflows"
git -C "$scratch/repo" init -q
cp "$root/action.yml" "$scratch/repo/action.yml"
sed -E 's#uses: airlock-dev/airlock@[^[:space:]]+#uses: ./#' "$workflow" >"$scratch/repo/.github/workflows/deploy.yml"
# shellcheck disable=SC2329 # called through check
actionlint_repo() { (cd "$scratch/repo" && actionlint -no-color -oneline .github/workflows/deploy.yml); }
check "actionlint $(basename "$workflow") against action.yml" actionlint_repo

check "action.yml matches the github-actions schema" \
  check-jsonschema --builtin-schema vendor.github-actions "$root/action.yml"
check "$(basename "$workflow") matches the github-workflows schema" \
  check-jsonschema --builtin-schema vendor.github-workflows "$workflow"
check "the GitLab template and example match the gitlab-ci schema" \
  check-jsonschema --builtin-schema vendor.gitlab-ci \
  "$root/deploy/ci/gitlab/airlock-deploy.gitlab-ci.yml" "$root/examples/ci/gitlab/.gitlab-ci.yml"

check "shellcheck resources/airlock/deploy.sh" shellcheck "$root/resources/airlock/deploy.sh"
# The template's script lines, as GitLab runs them with bash (ruamel.yaml comes with
# check-jsonschema).
python=$(dirname "$(readlink -f "$(command -v check-jsonschema)")")/python
"$python" - "$root/deploy/ci/gitlab/airlock-deploy.gitlab-ci.yml" >"$scratch/gitlab.sh" <<'PY'
import sys
from ruamel.yaml import YAML
job = YAML(typ="safe").load(open(sys.argv[1]))[".airlock-deploy"]
print("#!/usr/bin/env bash\nset -eo pipefail")
for name in job.get("variables", {}):
    print(f': "${{{name}:=}}"')
print("\n".join(job["script"]))
PY
check "shellcheck the GitLab template's script" shellcheck "$scratch/gitlab.sh"

exit "$failed"
