#!/bin/bash
# /opt/entrypoint.sh of the insight-spark image: the container contract Spark on Kubernetes
# relies on, as apache/spark-docker's entrypoint implements it for the Docker Official Image.
#
#   driver ARGS...    the pod spark-submit creates in cluster mode: spark-submit in client
#                     mode, bound to $SPARK_DRIVER_BIND_ADDRESS (the pod's IP)
#   executor          an executor pod the driver creates: KubernetesExecutorBackend, told
#                     where the driver is and who it is by SPARK_DRIVER_URL, SPARK_EXECUTOR_ID,
#                     SPARK_EXECUTOR_CORES, SPARK_EXECUTOR_MEMORY, SPARK_APPLICATION_ID,
#                     SPARK_EXECUTOR_POD_IP, SPARK_RESOURCE_PROFILE_ID, SPARK_EXECUTOR_POD_NAME
#   anything else     run as given (pass-through), e.g. /opt/spark/bin/spark-submit ...
#
# Driver and executor run under tini as a subreaper. A UID without a passwd entry (a
# runtime's random UID) gets one through libnss_wrapper: Hadoop's login needs a user name.
set -eo pipefail

fake_passwd_entry() {
	local uid gid wrapper
	uid=$(id -u)
	gid=$(id -g)
	getent passwd "$uid" >/dev/null 2>&1 && return 0
	for wrapper in /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so; do
		[ -s "$wrapper" ] || continue
		NSS_WRAPPER_PASSWD=$(mktemp)
		NSS_WRAPPER_GROUP=$(mktemp)
		printf 'spark:x:%s:%s:%s:%s:/bin/false\n' "$uid" "$gid" "${SPARK_USER_NAME:-anonymous uid}" "$SPARK_HOME" >"$NSS_WRAPPER_PASSWD"
		printf 'spark:x:%s:\n' "$gid" >"$NSS_WRAPPER_GROUP"
		export LD_PRELOAD=$wrapper NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
		return 0
	done
}

require() {
	local v
	for v in "$@"; do
		if [ -z "${!v}" ]; then
			echo "entrypoint.sh: $MODE: $v is not set (the pod Spark creates sets it)" >&2
			exit 1
		fi
	done
}

: "${SPARK_HOME:=/opt/spark}"
: "${JAVA_HOME:=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}"

# The executor's classpath: configuration first, then Spark's jars, any extra ones, and the
# working directory (SPARK-43540: files the driver ships land there).
classpath="${SPARK_CONF_DIR:-$SPARK_HOME/conf}:$SPARK_HOME/jars/*"
if [ -n "${HADOOP_CONF_DIR+x}" ]; then
	classpath="$HADOOP_CONF_DIR:$classpath"
fi
if [ -n "$SPARK_CLASSPATH" ]; then
	classpath="$classpath:$SPARK_CLASSPATH"
fi
if [ -n "$SPARK_EXTRA_CLASSPATH" ]; then
	classpath="$classpath:$SPARK_EXTRA_CLASSPATH"
fi
classpath="$classpath:$PWD"

# The driver passes the executors' JVM options as SPARK_JAVA_OPT_0, _1, ... in order.
java_opts=()
while IFS= read -r v; do
	java_opts+=("${!v}")
done < <(compgen -v SPARK_JAVA_OPT_ | sort -t_ -k4 -n)

MODE=$1
case "$MODE" in
driver)
	shift
	require SPARK_DRIVER_BIND_ADDRESS
	fake_passwd_entry
	exec /usr/bin/tini -s -- "$SPARK_HOME/bin/spark-submit" \
		--conf "spark.driver.bindAddress=$SPARK_DRIVER_BIND_ADDRESS" \
		--conf "spark.executorEnv.SPARK_DRIVER_POD_IP=$SPARK_DRIVER_BIND_ADDRESS" \
		--deploy-mode client "$@"
	;;
executor)
	shift
	require SPARK_DRIVER_URL SPARK_EXECUTOR_ID SPARK_EXECUTOR_CORES SPARK_EXECUTOR_MEMORY \
		SPARK_APPLICATION_ID SPARK_EXECUTOR_POD_IP SPARK_RESOURCE_PROFILE_ID
	fake_passwd_entry
	exec /usr/bin/tini -s -- "$JAVA_HOME/bin/java" "${java_opts[@]}" \
		-Xms"$SPARK_EXECUTOR_MEMORY" -Xmx"$SPARK_EXECUTOR_MEMORY" \
		-cp "$classpath${SPARK_DIST_CLASSPATH:+:$SPARK_DIST_CLASSPATH}" \
		org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
		--driver-url "$SPARK_DRIVER_URL" \
		--executor-id "$SPARK_EXECUTOR_ID" \
		--cores "$SPARK_EXECUTOR_CORES" \
		--app-id "$SPARK_APPLICATION_ID" \
		--hostname "$SPARK_EXECUTOR_POD_IP" \
		--resourceProfileId "$SPARK_RESOURCE_PROFILE_ID" \
		--podName "$SPARK_EXECUTOR_POD_NAME"
	;;
"")
	echo "entrypoint.sh: no command: want driver ARGS..., executor, or a command to run" >&2
	exit 2
	;;
*)
	fake_passwd_entry
	exec "$@"
	;;
esac
