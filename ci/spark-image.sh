#!/usr/bin/env bash
# make image-spark: the insight-spark OCI image, built without a container engine, from parts
# the project fetches through package clients:
#   - a Debian bookworm root with OpenJDK 17's JRE, bash, tini, procps and libnss-wrapper
#     (ci/jre-root.sh);
#   - Spark $SPARK_VERSION's jars and scripts from the pyspark release on PyPI (pip download);
#   - the Redis connector, Jedis, commons-pool2 and MariaDB Connector/J from Maven Central,
#     pinned in e2e/spark/pom.xml;
#   - /opt/entrypoint.sh (e2e/spark/entrypoint.sh), Spark's driver/executor/pass-through
#     contract, and the examples (e2e/spark/src) compiled with javac into
#     /opt/insight/examples/insight-examples.jar.
# ci/mkimage packs the root and the Spark tree as two layers, user 185, into bin/images/:
#   insight-spark-$VERSION.tar (docker-archive: node agent, docker load), -oci/ and .oci.tar.
# Downloads are cached in ~/.cache/insight/spark/, the finished image in
# ~/.cache/insight/images/ keyed by every pinned version and a hash of the inputs: a second
# run with the same inputs only links the cached files (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${VERSION:-0.1.0}
SPARK_VERSION=3.5.9 # the newest 3.5.x on PyPI; spark-redis has no Spark 4 (Scala 2.13) build
# PyPI's sha256 of pyspark-3.5.9.tar.gz: a download that differs is refused.
PYSPARK_SHA256=ea27adc39ddac9413b8951e45aa748cbed6c785971b81386efc41938f6243d93
SPARK_UID=185 # Spark's image user (apache/spark-docker)
CACHE=${INSIGHT_CACHE:-$HOME/.cache/insight}
log() { echo "spark-image.sh: $*" >&2; }
start=$SECONDS

# The build's own tools: command:Debian package.
missing=()
for pair in javac:openjdk-17-jdk-headless jar:openjdk-17-jdk-headless mvn:maven python3:python3-pip; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { log "missing Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})"; exit 1; }
	log "installing Debian packages: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi

root=$(ci/jre-root.sh libnss-wrapper)

# Spark from the pyspark sdist: deps/{bin,sbin,jars,licenses} are the binary release's.
mkdir -p "$CACHE/spark"
sdist=$CACHE/spark/pyspark-$SPARK_VERSION.tar.gz
if [ ! -f "$sdist" ]; then
	log "downloading pyspark $SPARK_VERSION from PyPI"
	tmp=$(mktemp -d "$CACHE/spark/.pip.XXXXXX")
	nice python3 -m pip download --quiet --no-deps --no-binary :all: "pyspark==$SPARK_VERSION" -d "$tmp" >&2
	got=$(sha256sum "$tmp/pyspark-$SPARK_VERSION.tar.gz" | cut -d' ' -f1)
	if [ "$got" != "$PYSPARK_SHA256" ]; then
		rm -rf "$tmp"
		log "pyspark-$SPARK_VERSION.tar.gz: sha256 $got, want $PYSPARK_SHA256"
		exit 1
	fi
	mv "$tmp/pyspark-$SPARK_VERSION.tar.gz" "$sdist"
	rm -rf "$tmp"
fi
spark=$CACHE/spark/spark-$SPARK_VERSION
if [ ! -d "$spark" ]; then
	tmp=$(mktemp -d "$CACHE/spark/.spark.XXXXXX")
	nice tar xzf "$sdist" -C "$tmp" --strip-components=2 \
		"pyspark-$SPARK_VERSION/deps/bin" "pyspark-$SPARK_VERSION/deps/sbin" \
		"pyspark-$SPARK_VERSION/deps/jars" "pyspark-$SPARK_VERSION/deps/licenses"
	mv "$tmp" "$spark"
fi

# The connector and JDBC jars, keyed by the pom that pins them.
pom_key=$(sha256sum e2e/spark/pom.xml | cut -c1-12)
jars=$CACHE/spark/jars-$pom_key
if [ ! -d "$jars" ]; then
	log "fetching the connector and JDBC jars (e2e/spark/pom.xml) from Maven Central"
	tmp=$(mktemp -d "$CACHE/spark/.jars.XXXXXX")
	nice mvn -q -B -Dstyle.color=never -f e2e/spark/pom.xml dependency:copy-dependencies \
		-DexcludeTransitive=true -DoutputDirectory="$tmp" >&2
	mv "$tmp" "$jars"
fi

# The image's key: the pinned versions and every input's content.
key=$( {
	echo "$VERSION $SPARK_VERSION $SPARK_UID $(basename "$root") $pom_key"
	echo "$PYSPARK_SHA256"
	cat "$0" e2e/spark/entrypoint.sh ci/mkimage/*.go go.sum
	find e2e/spark/src -type f -name '*.java' | LC_ALL=C sort | xargs cat
} | sha256sum | cut -c1-16)
name=insight-spark-$VERSION
cached=$CACHE/images/$name-$key
mkdir -p bin/images
if [ "$(cat "bin/images/.$name.key" 2>/dev/null)" = "$key" ] && [ -f "bin/images/$name.tar" ]; then
	log "bin/images/$name.tar is up to date ($key)"
	exit 0
fi

if [ ! -f "$cached/$name.tar" ]; then
	log "building $name (Spark $SPARK_VERSION, key $key)"
	mkdir -p "$CACHE/images"
	work=$(mktemp -d "$CACHE/images/.$name.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	layer=$work/spark
	mkdir -p "$layer/opt/spark/conf" "$layer/opt/spark/work-dir" "$layer/opt/insight/examples" "$layer/etc"
	cp -a "$spark/bin" "$spark/sbin" "$spark/jars" "$spark/licenses" "$layer/opt/spark/"
	rm -f "$layer"/opt/spark/bin/*.cmd
	cp -a "$jars"/*.jar "$layer/opt/spark/jars/"
	echo "Spark $SPARK_VERSION (the pyspark $SPARK_VERSION release's jars) with $(cd "$jars" && ls *.jar | tr '\n' ' ')" \
		>"$layer/opt/spark/RELEASE"
	install -m 0755 e2e/spark/entrypoint.sh "$layer/opt/entrypoint.sh"
	# The user Spark's images run as, added to the root's own accounts.
	cp "$root/etc/passwd" "$root/etc/group" "$layer/etc/"
	echo "spark:x:$SPARK_UID:$SPARK_UID:Spark:/opt/spark:/usr/sbin/nologin" >>"$layer/etc/passwd"
	echo "spark:x:$SPARK_UID:" >>"$layer/etc/group"
	chown -R "$SPARK_UID:$SPARK_UID" "$layer/opt/spark/work-dir"
	chmod 0775 "$layer/opt/spark/work-dir"
	# The examples, compiled against the jars the image ships.
	mkdir -p "$work/classes"
	nice javac --release 17 -Xlint:all,-path -Werror -d "$work/classes" \
		-cp "$layer/opt/spark/jars/*" $(find e2e/spark/src -name '*.java' | LC_ALL=C sort)
	(cd "$work/classes" && find . -exec touch -d @0 {} + && jar --create --date=1980-01-01T00:00:02Z \
		--file "$layer/opt/insight/examples/insight-examples.jar" .)
	mkdir -p "$work/out"
	go run ./ci/mkimage --rootfs "$root" --rootfs "$layer" \
		--repo ghcr.io/insightgrid/insight-spark --version "$VERSION" --uid "$SPARK_UID" \
		--entrypoint /opt/entrypoint.sh --workdir /opt/spark/work-dir \
		--env PATH=/opt/spark/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--env SPARK_HOME=/opt/spark --env JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
		--out "$work/out" >&2
	rm -rf "$cached"
	mv "$work/out" "$cached"
	# Older builds of this version are superseded (1.3 GB each: three forms of the image).
	for old in "$CACHE/images/$name"-*; do
		[ "$old" = "$cached" ] || rm -rf "$old"
	done
fi
rm -rf "bin/images/$name.tar" "bin/images/$name-oci" "bin/images/$name.oci.tar"
cp -al "$cached/$name.tar" "$cached/$name-oci" "$cached/$name.oci.tar" bin/images/
echo "$key" >"bin/images/.$name.key"
log "bin/images/$name.tar ($(du -h "bin/images/$name.tar" | cut -f1)) in $((SECONDS - start)) s"
