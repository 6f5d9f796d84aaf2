package local

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// portUse is one port of a local grid and what listens on it.
type portUse struct {
	addr, what string
}

// ports lists every port the grid of cfg listens on, with its owner.
func (l Layout) ports(cfg Config) []portUse {
	out := []portUse{
		{l.EtcdClient, "the manager's etcd client port"}, {l.EtcdPeer, "the manager's etcd peer port"},
		{l.API, "the manager's API"}, {l.Metrics, "the manager's metrics port"},
	}
	if cfg.SQLExe != "" {
		out = append(out, portUse{l.SQL, "the SQL endpoint's MySQL port"}, portUse{l.SQLHTTP, "the SQL endpoint's HTTP port"})
	}
	if cfg.Site != "" {
		out = append(out, portUse{net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.BasePort+offWAN)), "the WAN gateway"})
	}
	for _, in := range l.Instances {
		name := fmt.Sprintf("p%d-i%d", in.Partition, in.Instance)
		out = append(out, portUse{in.RESP, name + "'s RESP port"}, portUse{in.HTTP, name + "'s HTTP port"},
			portUse{in.Metrics, name + "'s metrics port"})
		if !cfg.Insecure {
			out = append(out, portUse{in.TLS, name + "'s RESP over TLS port"}, portUse{in.Repl, name + "'s replication port"})
		}
	}
	return out
}

// checkPorts fails, naming each port and its owner, when another process listens on a
// port of the grid: nothing is started then, rather than one instance failing to bind
// after the others came up.
func checkPorts(cfg Config, l Layout) error {
	var busy []string
	for _, p := range l.ports(cfg) {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			busy = append(busy, fmt.Sprintf("%s (%s)", p.addr, p.what))
			continue
		}
		ln.Close()
	}
	if len(busy) > 0 {
		return fmt.Errorf("--base-port %d: %d of the grid's ports are in use: %s; choose another --base-port (the grid uses base to base+%d)",
			cfg.BasePort, len(busy), strings.Join(busy, ", "), offDataMet+maxInstance)
	}
	return nil
}

// ephemeralRange is the kernel's range of ports for outgoing connections.
func ephemeralRange() (lo, hi int, ok bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	return lo, hi, err1 == nil && err2 == nil
}

// warnEphemeral warns when the grid's ports overlap the range the kernel gives outgoing
// connections: any connection on the machine (the grid's own included) may take one of
// them between this check and the instance binding it.
func warnEphemeral(w io.Writer, cfg Config, l Layout) {
	lo, hi, ok := ephemeralRange()
	if !ok {
		return
	}
	first, last := 65536, 0
	for _, p := range l.ports(cfg) {
		_, ps, _ := net.SplitHostPort(p.addr)
		n, _ := strconv.Atoi(ps)
		first, last = min(first, n), max(last, n)
	}
	if last < lo || first > hi {
		return
	}
	fmt.Fprintf(w, "insight-grid local: warning: ports %d-%d overlap the kernel's ephemeral port range %d-%d (net.ipv4.ip_local_port_range): an outgoing connection may take one before the grid binds it; a --base-port below %d avoids that\n",
		first, last, lo, hi, lo-(last-first))
}
