# shellcheck shell=bash
# A benchmark's scratch directory and the processes it starts, both cleaned up on exit.
# Source it: it sets work (a new temporary directory) and pids (append the PID of every
# background process you start); on exit, also by Ctrl-C or SIGTERM, those processes get
# SIGTERM and are waited for, and work is removed. Only these PIDs are ever signalled.

work=$(mktemp -d)
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
