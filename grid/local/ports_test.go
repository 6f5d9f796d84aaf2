package local

import (
	"bytes"
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/internal/ports"
)

// TestRunRefusesBusyPortsBeforeStartingAnything: a port of the layout held by another
// process fails Run at once, naming the port and what it is for, and nothing is written.
func TestRunRefusesBusyPortsBeforeStartingAnything(t *testing.T) {
	base, err := ports.FreeBase("127.0.0.1", PortOffsets(6), MaxBasePort)
	if err != nil {
		t.Fatal(err)
	}
	// Partition 2's only instance is instance 2: its replication port base+1510+2.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+offRepl+2)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir() + "/grid"
	var stderr bytes.Buffer
	cfg := Config{Partitions: 3, BasePort: base, Bind: "127.0.0.1", Timeout: time.Second, LeaseTTL: time.Second,
		ReplTimeout: time.Second, RestartDelay: time.Second, LogLevel: "info", LogFormat: "text", Exe: "/nonexistent/insight-grid",
		DataDir: dir, AppendFsync: "everysec", Stdout: &stderr, Stderr: &stderr}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = Run(ctx, cfg)
	want := ln.Addr().String() + " (p2-i0's replication port)"
	if err == nil || !strings.Contains(err.Error(), "--base-port "+strconv.Itoa(base)) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run = %v; want an error naming --base-port and %s", err, want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the data directory %s was made (stat: %v): nothing should be written before the ports are checked", dir, err)
	}
}

// TestWarnEphemeralOverlap: a grid whose ports reach into the kernel's ephemeral range is
// warned about, with a base port that avoids it; one below it is not.
func TestWarnEphemeralOverlap(t *testing.T) {
	lo, _, ok := ephemeralRange()
	if !ok {
		t.Skip("no /proc/sys/net/ipv4/ip_local_port_range here")
	}
	cfg := Config{Partitions: 3, Bind: "127.0.0.1", Insecure: true}
	for _, c := range []struct {
		base int
		warn bool
	}{{lo - 5, true}, {lo - 2600, false}} {
		if c.base < 1024 {
			continue
		}
		cfg.BasePort = c.base
		var w bytes.Buffer
		warnEphemeral(&w, cfg, NewLayout(cfg))
		if got := strings.Contains(w.String(), "overlap the kernel's ephemeral port range"); got != c.warn {
			t.Errorf("base %d: warning %q, want a warning: %v", c.base, w.String(), c.warn)
		}
	}
}
