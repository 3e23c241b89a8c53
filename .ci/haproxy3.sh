#!/usr/bin/env bash
# Builds HAProxy 3.x from a Debian release's source package so the SPOP tests also run against
# the HAProxy the edges run: `haproxy3.sh` (trixie: 3.0 LTS) and `haproxy3.sh sid` (the newest,
# 3.1+ with `mode spop`). The binary is kept outside the clone and reused across runs.
# Never fails the CI: when the source cannot be had, it writes why into the cache's skip-reason
# file and those tests skip with that reason. Prints the binary path on the last line of stdout on
# success.
set -uo pipefail

cache="${EDGEBAN_CI_CACHE:-/var/cache/edgeban-ci}"
suite="${1:-${EDGEBAN_HAPROXY3_SUITE:-trixie}}"
# trixie's build keeps the names it always had; another suite's get the suite in theirs
if [ "$suite" = trixie ]; then tag=haproxy3; store="$cache"; else tag="haproxy3-$suite"; store="$cache/$suite"; fi
reason_file="$cache/$tag-skip-reason"
mkdir -p "$store" || { echo "haproxy3: cannot create $store" >&2; exit 0; }

skip() {
  echo "haproxy3: skipped: $*" >&2
  printf '%s\n' "$*" >"$reason_file"
  exit 0
}

works() { [ -x "$1" ] && "$1" -vv >/dev/null 2>&1; }

# Reuse any cached build (the newest version directory first).
for bin in $(ls -d "$store"/haproxy-3.*/haproxy 2>/dev/null | sort -rV); do
  if works "$bin"; then
    rm -f "$reason_file"
    ln -sfn "$bin" "$cache/$tag"
    echo "haproxy3: cached $("$bin" -v | head -1)" >&2
    echo "$bin"
    exit 0
  fi
done

[ "$(id -u)" = 0 ] || skip "not root: cannot add the $suite deb-src source to apt"
src=/etc/apt/sources.list.d/debian.sources
[ -r "$src" ] || skip "$src not found: no Debian archive URI to derive a deb-src line from"

# The main archive's URIs (not -security, not -updates), read from the machine's own sources.
uris=$(awk '
  /^[[:space:]]*$/ { if (deb && main && u != "") print u; deb = 0; main = 0; u = ""; next }
  tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
  tolower($1) == "uris:" { u = ""; for (i = 2; i <= NF; i++) u = u " " $i }
  tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i !~ /-/) main = 1 }
  END { if (deb && main && u != "") print u }
' "$src" | xargs -n1 | sort -u | xargs)
[ -n "$uris" ] || skip "no main-archive URIs in $src"
keyring=$(awk 'tolower($1) == "signed-by:" { print $2; exit }' "$src")

list=/etc/apt/sources.list.d/edgeban-$suite-src.sources
{
  echo "Types: deb-src"
  echo "URIs: $uris"
  echo "Suites: $suite"
  echo "Components: main"
  [ -n "$keyring" ] && echo "Signed-By: $keyring"
} >"$list"
# The source stays only for the fetch: the machine's own apt configuration is left as it was.
trap 'rm -f "$list"' EXIT

export DEBIAN_FRONTEND=noninteractive
echo "haproxy3: apt-get update for $suite deb-src ($uris)" >&2
apt-get update -qq -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- \
  -o APT::Get::List-Cleanup=0 >&2 || skip "apt-get update of the $suite deb-src source failed"

# Only a compiler and make: the tests need no TLS, PCRE or compression.
need=()
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v make >/dev/null || need+=(make)
command -v dpkg-source >/dev/null || need+=(dpkg-dev)
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || skip "cannot install ${need[*]}"
fi

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -f "$list"; rm -rf "$work"' EXIT
# apt checks every file against the signed Sources index. Some mirrors hold only the upstream
# tarball: then Debian's patches are not applied, which the tests do not need.
apt_src=(-o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=-)
if ! (cd "$work" && apt-get "${apt_src[@]}" source -qq "haproxy/$suite" >&2 2>"$work/source.err"); then
  echo "haproxy3: apt-get source failed ($(grep -m1 '^E:' "$work/source.err")), trying the upstream tarball only" >&2
  rm -rf "${work:?}"/haproxy*
  (cd "$work" && apt-get "${apt_src[@]}" source --tar-only -qq "haproxy/$suite" >&2 2>/dev/null) ||
    skip "apt-get source haproxy/$suite failed: $(grep -m1 '^E:' "$work/source.err")"
  tarball=$(ls "$work"/haproxy_*.orig.tar.* 2>/dev/null | head -1)
  [ -n "$tarball" ] && tar -C "$work" -xf "$tarball" || skip "cannot unpack the haproxy/$suite tarball"
fi
dir=$(ls -d "$work"/haproxy-*/ 2>/dev/null | head -1)
[ -n "$dir" ] || skip "apt-get source gave no haproxy source tree"
version=$(basename "$dir" | sed 's/^haproxy-//')

echo "haproxy3: building HAProxy $version" >&2
start=$(date +%s)
make -C "$dir" -j"$(nproc)" TARGET=linux-glibc >"$work/build.log" 2>&1 ||
  { tail -20 "$work/build.log" >&2; skip "make of HAProxy $version failed"; }
out="$store/haproxy-$version"
mkdir -p "$out" && install -m 755 "$dir/haproxy" "$out/haproxy"
works "$out/haproxy" || skip "the built HAProxy $version does not run"
echo "haproxy3: built HAProxy $version in $(($(date +%s) - start)) s" >&2
rm -f "$reason_file"
ln -sfn "$out/haproxy" "$cache/$tag"
echo "$out/haproxy"
