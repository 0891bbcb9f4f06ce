#!/usr/bin/env bash
# Builds the dispatcher Lambda (the `airlock-dispatch` bin of crates/dispatch) for the
# `provided.al2023` runtime and zips it as `bootstrap`:
#
#   scripts/package-dispatcher.sh                 dist/airlock-dispatch-VERSION-provided-al2023-x86_64.zip
#   scripts/package-dispatcher.sh --arch arm64    dist/airlock-dispatch-VERSION-provided-al2023-arm64.zip
#
# Amazon Linux 2023 has glibc 2.34, older than most build machines'. A binary linked against a
# newer glibc may ask for symbols AL2023 does not have, and then the function fails at its first
# cold start. So the build links against glibc 2.34 itself, through cargo-zigbuild and zig
# (both from PyPI, pinned in scripts/lib/glibc-build.sh, installed into .tools/zigbuild), and
# the script then reads the bootstrap's ELF version needs and fails if any GLIBC_ version is
# above 2.34 (or is not a version, like GLIBC_ABI_DT_RELR). If zigbuild cannot be installed,
# a plain `cargo build` is tried, and kept only if it passes that check.
#
# Environment: CARGO_TARGET_DIR is honoured; DIST_DIR (default dist/) is where the zip goes.
# Needs: cargo, python3 (venv, zipfile), readelf (binutils).
# Exit codes: 0 packaged; 1 the bootstrap needs a glibc newer than 2.34; 2 usage;
# 3 a tool or the Rust target is missing; 4 the build failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# shellcheck source=scripts/lib/glibc-build.sh
source "$root/scripts/lib/glibc-build.sh"
MAX_GLIBC=2.34

arch=x86_64
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=${2:-}; shift 2 || { echo "package-dispatcher.sh: --arch needs a value" >&2; exit 2; } ;;
    --arch=*) arch=${1#--arch=}; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "package-dispatcher.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$arch" in
  x86_64) rust_target=x86_64-unknown-linux-gnu ;;
  arm64|aarch64) arch=arm64; rust_target=aarch64-unknown-linux-gnu ;;
  *) echo "package-dispatcher.sh: --arch must be x86_64 or arm64, not '$arch'" >&2; exit 2 ;;
esac

for tool in cargo python3 readelf; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "package-dispatcher.sh: $tool not found (readelf is in Debian's binutils)" >&2
    exit 3
  fi
done

host=$(rustc -vV | sed -n 's/^host: //p')
if [ "$rust_target" != "$host" ] && command -v rustup >/dev/null 2>&1 \
  && ! rustup target list --installed | grep -qx "$rust_target"; then
  echo "package-dispatcher.sh: the Rust standard library for $rust_target is not installed" >&2
  echo "  (rustup target add $rust_target, where rustup can download)" >&2
  exit 3
fi

version=$(workspace_version airlock-dispatch)
dist=${DIST_DIR:-$root/dist}
target_dir=${CARGO_TARGET_DIR:-$root/target}
zip_path="$dist/airlock-dispatch-$version-provided-al2023-$arch.zip"

started=$SECONDS
echo "building airlock-dispatch $version for $rust_target, glibc $MAX_GLIBC"
glibc_build "$MAX_GLIBC" "$rust_target" -p airlock-dispatch --bin airlock-dispatch || exit 4
built=$((SECONDS - started))
binary="$target_dir/$rust_target/release/airlock-dispatch"

glibc=$(highest_glibc "$binary")
if [ -z "$glibc" ]; then
  echo "package-dispatcher.sh: $binary names no GLIBC_ version; is it a glibc binary?" >&2
  exit 1
fi
odd=$(glibc_non_versions "$binary")
if [ -n "$odd" ]; then
  echo "package-dispatcher.sh: $binary needs $(tr '\n' ' ' <<<"$odd")which glibc $MAX_GLIBC" \
    "may not have" >&2
  exit 1
fi
if ! at_most "$glibc" "$MAX_GLIBC"; then
  echo "package-dispatcher.sh: $binary needs GLIBC_$glibc, but provided.al2023 has $MAX_GLIBC" >&2
  exit 1
fi

# A reproducible zip: fixed timestamp, the bootstrap executable (Lambda runs it as is).
mkdir -p "$dist"
python3 - "$binary" "$zip_path" <<'EOF'
import sys, zipfile
binary, zip_path = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = 0o100755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with open(binary, "rb") as f, zipfile.ZipFile(zip_path + ".tmp", "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
EOF
mv "$zip_path.tmp" "$zip_path"

echo "$zip_path: $(wc -c <"$zip_path") bytes (bootstrap $(wc -c <"$binary") bytes)," \
  "needs GLIBC_$glibc at most (limit $MAX_GLIBC), built in ${built}s"
