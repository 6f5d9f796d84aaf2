#!/usr/bin/env bash
# The Debian bookworm root filesystem the suite's JVM images start from (insight-spark now,
# a Zeppelin image later), built without a container engine: debootstrap --variant=minbase
# with OpenJDK 17's headless JRE, bash, tini and procps (what Spark's entrypoint and scripts
# call), plus any extra Debian packages given as arguments. Apt's caches and lists, docs,
# man pages and locales are removed to keep the root small.
#
#   ci/jre-root.sh [EXTRA_PACKAGE...]    prints the root's path
#
# The root is cached at ~/.cache/insight/roots/<name>/, the name made of the suite, the
# JRE's major version and a hash of the mirror, the package set and RECIPE, so a second run
# with the same arguments returns at once. It is built in a temporary directory renamed
# into place when complete: an interrupted run never leaves a half root. The Debian package
# versions it holds are listed in <root>/etc/insight-root.versions.
# Needs root (debootstrap chroots); installs debootstrap when it is missing.
set -euo pipefail
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
JRE_PACKAGES=(openjdk-17-jre-headless bash tini procps)
CACHE=${INSIGHT_CACHE:-$HOME/.cache/insight}/roots
# Bump when the steps below change what a root holds: it is part of the cache key.
RECIPE=1

for p in "$@"; do
	if ! [[ $p =~ ^[a-z0-9][a-z0-9+.-]+$ ]]; then
		echo "jre-root.sh: package $p: not a Debian package name (lowercase letters, digits, + - .)" >&2
		exit 2
	fi
done
mapfile -t packages < <(printf '%s\n' "${JRE_PACKAGES[@]}" "$@" | sort -u)
key=$(printf '%s\n' "recipe $RECIPE" "$SUITE" "$MIRROR" "${packages[@]}" | sha256sum | cut -c1-12)
name="$SUITE-openjdk17-$key"
root="$CACHE/$name"
if [ -f "$root/etc/insight-root.versions" ]; then
	echo "$root"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "jre-root.sh: debootstrap needs root; run as root (CI and the dev machines are)" >&2
	exit 1
fi
if ! command -v debootstrap >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
fi
mkdir -p "$CACHE"
tmp=$(mktemp -d "$CACHE/.$name.XXXXXX")
cleanup() {
	# debootstrap leaves /proc and /sys mounted in the root when it fails half way.
	for m in proc sys dev/pts dev; do
		mountpoint -q "$tmp/$m" 2>/dev/null && umount -l "$tmp/$m" || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
echo "jre-root.sh: debootstrap $SUITE (${packages[*]}) into $tmp" >&2
start=$SECONDS
include=$(IFS=,; echo "${packages[*]}")
nice debootstrap --variant=minbase --include="$include" "$SUITE" "$tmp/root" "$MIRROR" >"$tmp/debootstrap.log" 2>&1 || {
	tail -20 "$tmp/debootstrap.log" >&2
	echo "jre-root.sh: debootstrap failed (log above)" >&2
	exit 1
}
r=$tmp/root
chroot "$r" dpkg-query -W -f '${Package} ${Version}\n' >"$tmp/versions"
for p in "${packages[@]}"; do
	grep -q "^$p " "$tmp/versions" || { echo "jre-root.sh: $p is not installed in the root" >&2; exit 1; }
done
# Small: no package caches, lists, docs, man pages or locales; the root is read-only
# input to image builds, apt is never run in it again.
rm -rf "$r"/var/cache/apt/* "$r"/var/lib/apt/lists/* "$r"/var/log/* \
	"$r"/usr/share/doc "$r"/usr/share/man "$r"/usr/share/info "$r"/usr/share/locale \
	"$r"/usr/share/lintian "$r"/tmp/* "$r"/var/tmp/*
mv "$tmp/versions" "$r/etc/insight-root.versions"
mv "$r" "$root"
echo "jre-root.sh: $root built in $((SECONDS - start)) s, $(du -sh "$root" | cut -f1)" >&2
echo "$root"
