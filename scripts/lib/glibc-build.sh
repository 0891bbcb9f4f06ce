# shellcheck shell=bash disable=SC2154  # $root is the sourcing script's
# Sourced by scripts/package-dispatcher.sh and scripts/release.sh: builds that link against an
# older glibc than the build machine's, and the check that they did. Needs $root (the
# workspace root), cargo, python3 and readelf (binutils).

# The pins. Change them together and rerun scripts/package-dispatcher.sh: its check proves the
# result. (ziglang 0.17.0 does not work with this cargo-zigbuild: "Failed to parse `zig cc -v`
# output".)
ZIGBUILD_PACKAGES=("astral-dev-toolchain-cargo-zigbuild==0.23.4" "ziglang==0.15.2")

# zigbuild_venv: prints .tools/zigbuild, created with the pinned packages if it is not up to
# date, or prints nothing if pip cannot have them.
zigbuild_venv() {
  local dir="$root/.tools/zigbuild" want
  want=$(printf '%s\n' "${ZIGBUILD_PACKAGES[@]}")
  if [ -x "$dir/bin/cargo-zigbuild" ] && [ "$(cat "$dir/.airlock-pins" 2>/dev/null)" = "$want" ]; then
    echo "$dir"
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$root/.tools"
  if python3 -m venv "$dir" >&2 && "$dir/bin/pip" install --quiet "${ZIGBUILD_PACKAGES[@]}" >&2; then
    printf '%s\n' "$want" >"$dir/.airlock-pins"
    echo "$dir"
  fi
}

# glibc_build GLIBC TARGET CARGO_ARGS...: `cargo build --release` for TARGET linked against
# glibc GLIBC through cargo-zigbuild, or a plain build when zigbuild cannot be installed (the
# caller's check then decides whether that is good enough). The binaries land in
# $CARGO_TARGET_DIR/TARGET/release either way.
glibc_build() {
  local glibc=$1 target=$2 venv
  shift 2
  venv=$(zigbuild_venv || true)
  if [ -n "$venv" ]; then
    # cargo-zigbuild finds zig through `python3 -m ziglang` of the venv.
    PATH="$venv/bin:$PATH" cargo zigbuild --locked --release --target "$target.$glibc" "$@"
  else
    echo "cargo-zigbuild could not be installed; a plain build, for $target, must pass the" \
      "glibc check on its own" >&2
    cargo build --locked --release --target "$target" "$@"
  fi
}

# highest_glibc FILE: the highest GLIBC_x.y that FILE's ELF version needs name, in numeric
# order (2.9 < 2.34); empty if it names none.
highest_glibc() {
  readelf --version-info --wide "$1" | grep -oE 'Name: GLIBC_[0-9]+(\.[0-9]+)*' \
    | sed 's/^Name: GLIBC_//' | sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1
}

# glibc_non_versions FILE: GLIBC_ names that are not versions (GLIBC_PRIVATE,
# GLIBC_ABI_DT_RELR), each a dependency that an older glibc may not satisfy.
glibc_non_versions() {
  readelf --version-info --wide "$1" | grep -oE 'Name: GLIBC_[A-Za-z0-9_.]+' \
    | sed 's/^Name: //' | grep -vE '^GLIBC_[0-9]+(\.[0-9]+)*$' | sort -u || true
}

# at_most A B: version A <= version B, compared numerically part by part.
at_most() {
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1)" = "$2" ]
}

# workspace_version PACKAGE: the version of a workspace package (the workspace's version).
workspace_version() {
  cargo metadata --locked --no-deps --format-version 1 | python3 -c 'import json, sys
print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == sys.argv[1]))' "$1"
}
