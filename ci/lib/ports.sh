# shellcheck shell=bash
# Free loopback ports for the benchmarks to listen on (ci/bench-*.sh).
# Source it; it sets no shell options. Needs the caller's log function.
#
# Listening ports are drawn below the kernel's ephemeral range, so that no outgoing
# connection (of this run or of other work on the machine) takes one between the check and
# the bind. The top leaves room for a grid layout's highest offsets (+1010 and one per
# instance, up to 90 instances, for grids that grow while they run).

ephemeral_low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
port_hi=$((ephemeral_low - 1101))
[ "$port_hi" -gt 12000 ] || port_hi=30000

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_base OFFSET...: prints a port p such that p+OFFSET is free for every OFFSET (a grid's
# layout); exits when 100 random tries find none.
free_base() {
	local p off
	for p in $(shuf -i 10000-"$port_hi" -n 100); do
		for off in "$@"; do
			port_free $((p + off)) || continue 2
		done
		echo "$p"
		return
	done
	if [ $# -gt 1 ]; then log "no free port range found"; else log "no free port found"; fi
	exit 1
}

# free_port: prints a free port.
free_port() { free_base 0; }
