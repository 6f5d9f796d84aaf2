#!/usr/bin/env bash
# Install the Redis client libraries that grid/itest TestRedisClients drives against a local grid:
# ioredis and node-redis (npm), redis-py (PyPI), Jedis (Maven Central), and MariaDB Connector/J
# (Maven Central) that grid/sql/itest TestJDBC drives against the SQL endpoint, with commons-dbcp2 the
# classpath of Zeppelin's JDBC interpreter that e2e/zeppelin drives, playwright-core (npm, pins in
# e2e/ui/) that grid/itest TestWebUI drives Debian's chromium with, at the exact versions of
# the pin files under e2e/clients/<lang>/. Each language installs into
# $INSIGHT_CACHE/clients/<lang>-<hash of its pin files>, so a warm run only hashes; downloads are
# cached beside them (npm-cache, pip-cache, m2). Quiet unless it installs something or fails.
#
#   ci/clients.sh          install what is missing
#   ci/clients.sh --dirs   print lang=dir lines (dir ends in "(missing)" if not installed); install nothing
#
# A missing runtime (node, python3, java with mvn) is skipped with a note, except in CI (CI=true),
# where it is an error: there the test must run every client.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/e2e/cluster/lib.sh"

CLIENTS_REV=1 # bump when this script changes how a language installs
CLIENTS_DIR=$INSIGHT_CACHE/clients
src=$repo/e2e/clients

# pins LANG: the pin files of LANG, in a fixed order.
pins() {
	case $1 in
	node) echo "$src/node/package.json $src/node/package-lock.json" ;;
	python) echo "$src/python/requirements.txt" ;;
	java) echo "$src/java/pom.xml" ;;
	jdbc) echo "$src/jdbc/pom.xml" ;;
	zeppelin) echo "$src/zeppelin/pom.xml" ;;
	ui) echo "$repo/e2e/ui/package.json $repo/e2e/ui/package-lock.json" ;;
	esac
}

# dir_of LANG: the install directory of LANG's pinned versions.
dir_of() {
	local h
	# shellcheck disable=SC2046 # pins are paths without spaces
	h=$({ echo "rev $CLIENTS_REV"; cat $(pins "$1"); } | sha256sum | cut -c1-16)
	echo "$CLIENTS_DIR/$1-$h"
}

# runtime LANG: whether the commands LANG's install and run need are on PATH.
runtime() {
	case $1 in
	node | ui) command -v node >/dev/null && command -v npm >/dev/null ;;
	python) command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 ;;
	java | jdbc | zeppelin) command -v java >/dev/null && command -v mvn >/dev/null ;;
	esac
}

# quiet LOG CMD...: run CMD with its output in LOG, shown only if it fails.
quiet() {
	local logf=$1; shift
	if ! "$@" >"$logf" 2>&1; then
		cat "$logf" >&2
		die "$* failed (log above)"
	fi
}

install_node() {
	cp "$src/node/package.json" "$src/node/package-lock.json" "$1/"
	(cd "$1" && quiet "$1/install.log" npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline \
		--loglevel=error --cache "$CLIENTS_DIR/npm-cache")
}

# playwright-core, which grid/itest TestWebUI drives Debian's chromium with (ci/tools.sh installs
# it); it downloads no browser.
install_ui() {
	cp "$repo/e2e/ui/package.json" "$repo/e2e/ui/package-lock.json" "$1/"
	(cd "$1" && quiet "$1/install.log" npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline \
		--loglevel=error --cache "$CLIENTS_DIR/npm-cache")
}

install_python() {
	quiet "$1/install.log" python3 -m pip install --quiet --disable-pip-version-check --no-input --no-deps \
		--require-hashes --only-binary=:all: --cache-dir "$CLIENTS_DIR/pip-cache" \
		--target "$1" -r "$src/python/requirements.txt"
}

# install_maven LANG DIR: the dependencies of e2e/clients/LANG/pom.xml into DIR/lib.
install_maven() {
	cp "$src/$1/pom.xml" "$2/"
	(cd "$2" && quiet "$2/install.log" mvn -q -B -Dmaven.repo.local="$CLIENTS_DIR/m2" \
		dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$2/lib")
}

install_java() { install_maven java "$1"; }

# MariaDB Connector/J, for grid/sql/itest TestJDBC (the SQL endpoint).
install_jdbc() { install_maven jdbc "$1"; }

# MariaDB Connector/J with commons-dbcp2, for e2e/zeppelin (Zeppelin's JDBC interpreter's path).
install_zeppelin() { install_maven zeppelin "$1"; }

langs=(node python java jdbc zeppelin ui)
if [ "${1:-}" = --dirs ]; then
	for l in "${langs[@]}"; do
		d=$(dir_of "$l")
		[ -f "$d/.done" ] || d="$d (missing)"
		echo "$l=$d"
	done
	exit 0
fi

mkdir -p "$CLIENTS_DIR"
tmp=
trap 'if [ -n "$tmp" ]; then rm -rf "$tmp"; fi' EXIT
for l in "${langs[@]}"; do
	d=$(dir_of "$l")
	[ -f "$d/.done" ] && continue
	if ! runtime "$l"; then
		[ "${CI:-}" != true ] || die "the $l runtime is missing; the client tests need it in CI"
		log "skipping the $l clients: its runtime is not installed"
		continue
	fi
	log "installing the $l clients into $d"
	tmp=$(mktemp -d "$d.tmp.XXXXXX")
	"install_$l" "$tmp"
	rm -f "$tmp/install.log"
	touch "$tmp/.done"
	# A run that died half-way leaves no .done; another run may have won the race (same install).
	[ -f "$d/.done" ] || rm -rf "$d"
	mv -T "$tmp" "$d" 2>/dev/null || rm -rf "$tmp"
	tmp=
done
