#!/usr/bin/env bash
# Stop what up.sh started, by recorded PID, newest first: SIGTERM, then SIGKILL after 10s.
# Idempotent; touches no process it did not start. Fake-node objects die with etcd's data.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

# stop NAME...: SIGTERM every named component at once, wait up to 10s, SIGKILL the rest.
stop() {
	local c pids=() names=()
	for c in "$@"; do
		local f=$RUN_DIR/$c.pid
		[ -f "$f" ] || continue
		if kill -0 "$(cat "$f")" 2>/dev/null; then
			pids+=("$(cat "$f")"); names+=("$c")
			kill -TERM "$(cat "$f")" 2>/dev/null
		fi
		rm -f "$f"
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	for _ in $(seq 1 50); do
		local alive=0
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 1 ] || break
		sleep 0.2
	done
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
	log "stopped ${names[*]} (pids ${pids[*]})"
}
# The agent first (it stops its pods' processes), the API server before its etcd.
stop nodeagent
stop kwok kube-scheduler kube-controller-manager
stop kube-apiserver
stop etcd
rm -rf "$RUN_DIR/etcd-data"
