#!/usr/bin/env bash
# Builds the release assets into dist/ and their checksums:
#
#   dist/airlock-VERSION-x86_64-unknown-linux-gnu.tar.gz          airlock, every capability
#   dist/airlock-scanner-VERSION-x86_64-unknown-linux-gnu.tar.gz  airlock, the scanner alone
#                                                                 (check, accounts lint)
#   dist/airlock-dispatch-VERSION-provided-al2023-x86_64.zip      the dispatcher Lambda
#   dist/SHA256SUMS                                               `sha256sum -c SHA256SUMS`
#
# The binaries link against glibc 2.34 (cargo-zigbuild, as in scripts/package-dispatcher.sh),
# so they run on Amazon Linux 2023, Debian 12, Ubuntu 22.04, RHEL 9 and anything newer; the
# script prints the highest GLIBC_ version each one needs and fails above 2.34. Archives are
# reproducible: sorted names, fixed owner and timestamp, gzip without a name or time.
#
# Environment: CARGO_TARGET_DIR is honoured; DIST_DIR (default dist/) is where assets go.
# Exit codes: 0 released; 1 a binary needs a glibc newer than 2.34; 2 usage; 3 a tool is
# missing; 4 a build failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/glibc-build.sh
source "$root/scripts/lib/glibc-build.sh"
MAX_GLIBC=2.34
TARGET=x86_64-unknown-linux-gnu

case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
  *) echo "release.sh: unknown argument: $1" >&2; exit 2 ;;
esac
for tool in cargo python3 readelf tar gzip sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "release.sh: $tool not found" >&2
    exit 3
  fi
done

version=$(workspace_version airlock-cli)
export DIST_DIR=${DIST_DIR:-$root/dist}
target_dir=${CARGO_TARGET_DIR:-$root/target}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$DIST_DIR"

# check_glibc FILE: fails unless FILE needs glibc $MAX_GLIBC at most; prints what it needs.
check_glibc() {
  local glibc odd
  glibc=$(highest_glibc "$1")
  odd=$(glibc_non_versions "$1")
  if [ -z "$glibc" ] || [ -n "$odd" ] || ! at_most "$glibc" "$MAX_GLIBC"; then
    echo "release.sh: $1 needs GLIBC_${glibc:-?} $(tr '\n' ' ' <<<"$odd")(limit $MAX_GLIBC)" >&2
    exit 1
  fi
  echo "$(basename "$1"): needs GLIBC_$glibc at most"
}

# package NAME FEATURE_ARGS...: builds airlock with the given feature arguments and packs it,
# with README.md, as dist/NAME-VERSION-TARGET.tar.gz.
package() {
  local name=$1 dir started
  shift
  dir="$stage/$name-$version-$TARGET"
  started=$SECONDS
  glibc_build "$MAX_GLIBC" "$TARGET" -p airlock-cli --bin airlock "$@" || exit 4
  mkdir -p "$dir"
  install -m 0755 "$target_dir/$TARGET/release/airlock" "$dir/airlock"
  install -m 0644 README.md "$dir/README.md"
  check_glibc "$dir/airlock"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$stage" -cf - \
    "$(basename "$dir")" | gzip -n -9 >"$DIST_DIR/$(basename "$dir").tar.gz"
  echo "$DIST_DIR/$(basename "$dir").tar.gz: $(wc -c <"$DIST_DIR/$(basename "$dir").tar.gz")" \
    "bytes (airlock $(wc -c <"$dir/airlock") bytes), built in $((SECONDS - started))s"
}

# The scanner first: the full build that follows overwrites the same target path.
package airlock-scanner --no-default-features
package airlock
scripts/package-dispatcher.sh

(
  cd "$DIST_DIR"
  sha256sum -- *-"$version"-*.tar.gz airlock-dispatch-"$version"-*.zip >SHA256SUMS
  sha256sum -c --quiet SHA256SUMS
)
echo "$DIST_DIR/SHA256SUMS:"
cat "$DIST_DIR/SHA256SUMS"
