#!/usr/bin/env bash
# Creates the Python environments and tools that airlock's tests and benchmarks use.
# Idempotent: a second run with nothing to change only checks the pins and exits.
#
#   scripts/setup-test-env.sh              .venv: moto[server], boto3, awscli (the test suite)
#                                          .tools/sarif: Microsoft's SARIF validator (npm)
#                                          tmux (apt), for the terminal test of `airlock guard`
#   scripts/setup-test-env.sh --checkov    also .venv-checkov: checkov (the benchmarks' peer)
#
# checkov gets its own virtualenv because checkov 3.3.30 and moto 5.2.5 pin conflicting
# versions of boto3, so pip cannot install them side by side.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# The pins. Integration tests rely on moto's behaviour at this version; change them together
# and run the whole suite.
TEST_PACKAGES=("moto[server]==5.2.5" "boto3==1.44.5" "botocore==1.44.5" "awscli==1.46.3")
CHECKOV_PACKAGES=("checkov==3.3.30")
# The SARIF validator (SARIF Multitool). It is a self-contained .NET binary shipped in an npm
# package together with the SARIF 2.1.0 JSON schema; crates/cli/tests/sarif.rs runs it.
SARIF_PACKAGE="@microsoft/sarif-multitool-linux@5.7.0"

want_checkov=0
for arg in "$@"; do
  case "$arg" in
    --checkov) want_checkov=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup-test-env.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "setup-test-env.sh: $python not found; install Python 3 (apt-get install python3 python3-venv)" >&2
  exit 3
fi

# make_venv DIR STAMP PACKAGES...: (re)creates DIR when the stamp of pins differs.
make_venv() {
  local dir=$1; shift
  local stamp="$dir/.airlock-pins"
  local want
  want=$(printf '%s\n' "$@")
  if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$dir is up to date"
    return 0
  fi
  echo "creating $dir with: $*"
  rm -rf "$dir"
  if ! "$python" -m venv "$dir" 2>/dev/null; then
    # Debian splits venv out of the interpreter package.
    if command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      "$python" -m venv "$dir"
    else
      echo "setup-test-env.sh: '$python -m venv' failed and apt-get is not available" >&2
      exit 3
    fi
  fi
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  printf '%s\n' "$want" > "$stamp"
}

make_venv .venv "${TEST_PACKAGES[@]}"
.venv/bin/python -c 'import moto, boto3; print("moto", moto.__version__, "boto3", boto3.__version__)'

if [ "$want_checkov" = 1 ]; then
  make_venv .venv-checkov "${CHECKOV_PACKAGES[@]}"
  .venv-checkov/bin/checkov --version
fi

# install_sarif_validator: npm install into .tools/sarif unless the pinned version is there.
install_sarif_validator() {
  local dir=.tools/sarif
  local stamp="$dir/.airlock-pins"
  local tool="$dir/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
  if [ -f "$tool" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$SARIF_PACKAGE" ]; then
    echo "$dir is up to date"
  else
    if ! command -v npm >/dev/null 2>&1; then
      if command -v apt-get >/dev/null 2>&1; then
        echo "installing nodejs and npm with apt-get"
        apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
      else
        echo "setup-test-env.sh: npm is not installed and apt-get is not available" >&2
        exit 3
      fi
    fi
    echo "installing $SARIF_PACKAGE into $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --silent "$SARIF_PACKAGE"
    printf '%s\n' "$SARIF_PACKAGE" > "$stamp"
  fi
  # The package makes its binary executable in a postinstall script, which npm may skip.
  chmod u+x "$tool"
  DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 "$tool" --version | sed -n 1p
}
install_sarif_validator

# tmux drives `airlock guard` on a real terminal in crates/cli/tests/accounts_e2e.rs.
if ! command -v tmux >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing tmux with apt-get"
    apt-get update -qq && apt-get install -y -qq tmux >/dev/null
  else
    echo "setup-test-env.sh: tmux is not installed and apt-get is not available" >&2
    exit 3
  fi
fi
tmux -V
