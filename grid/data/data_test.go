package data

import (
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/internal/tlsconf"
	"github.com/insightgrid/insight/grid/wan"
)

func TestValidate(t *testing.T) {
	ok := Config{EtcdEndpoints: []string{"m-0:2379"}, AdvertiseHost: "10.0.0.5", Port: 6379, HTTPPort: 8080, MetricsPort: 9121,
		LeaseTTL: 5 * time.Second, ProtoMaxBulkLen: 512 << 20, ReplTimeout: 500 * time.Millisecond, ReplBacklog: 64 << 20}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"ok", func(*Config) {}, ""},
		{"instance", func(c *Config) { c.Instance = 2 }, "--instance 2: must be 0 (preferred primary) or 1 (backup)"},
		{"partition", func(c *Config) { c.Partition = -1 }, "--partition -1: must be between 0 and 16383"},
		{"no endpoints", func(c *Config) { c.EtcdEndpoints = nil }, "--etcd-endpoints is empty"},
		{"endpoint", func(c *Config) { c.EtcdEndpoints = []string{"m-0"} }, `--etcd-endpoints entry "m-0": want host:port`},
		{"port", func(c *Config) { c.Port = 70000 }, "--port 70000: must be between 1 and 65535"},
		{"no metrics port", func(c *Config) { c.MetricsPort = 0 }, ""},
		{"metrics port range", func(c *Config) { c.MetricsPort = 70000 }, "--metrics-port 70000: must be between 1 and 65535"},
		{"metrics on the HTTP port", func(c *Config) { c.MetricsPort = 8080 }, "--metrics-port 8080: --http-port uses it too; give the metrics a port of their own"},
		{"metrics on the RESP port", func(c *Config) { c.MetricsPort = 6379 }, "--metrics-port 6379: --port uses it too"},
		{"lease", func(c *Config) { c.LeaseTTL = time.Millisecond }, "--lease-ttl 1ms: must be at least 1s"},
		{"bulk", func(c *Config) { c.ProtoMaxBulkLen = 10 }, "--proto-max-bulk-len 10: must be at least 1mb"},
		{"repl timeout", func(c *Config) { c.ReplTimeout = time.Millisecond }, "--repl-timeout 1ms: must be between 50ms and 1m"},
		{"backlog", func(c *Config) { c.ReplBacklog = 1000 }, "--repl-backlog-size 1000: must be between 1mb and 1tb"},
		{"rewrite percentage", func(c *Config) { c.RewritePercentage = -5 }, "--auto-aof-rewrite-percentage -5: must be 0 (no snapshots: the journal grows without bound) or positive"},
		{"rewrite size", func(c *Config) { c.RewriteMinSize = -1 }, "--auto-aof-rewrite-min-size -1: must not be negative"},
		{"tiering", func(c *Config) { c.TieringDir, c.MaxMemory, c.TieringMaxDisk = "/data", 1<<30, 10<<30 }, ""},
		{"tiering without a RAM budget", func(c *Config) { c.TieringDir = "/data" }, "--tiering-dir needs a RAM budget: give --maxmemory"},
		{"tiering disk budget without a directory", func(c *Config) { c.TieringMaxDisk = 1 << 30 }, "--tiering-max-disk 1073741824 needs --tiering-dir"},
		{"wan with a data dir", func(c *Config) {
			c.DataDir, c.WAN = "/data", &wan.Config{Site: "london", Targets: []string{"paris"}, OutboxMax: 10, Mode: wan.ModeBlock, TombstoneTTL: time.Hour}
		}, ""},
		{"node and zone", func(c *Config) { c.NodeName, c.Zone = "ip-10-0-1-5.eu-west-1.compute.internal", "eu-west-1a" }, ""},
		{"node name with a space", func(c *Config) { c.NodeName = "node 1" }, `--node-name "node 1": must not hold spaces or control characters`},
		{"zone too long", func(c *Config) { c.Zone = strings.Repeat("z", 64) }, "must be at most 63"},
		{"negative tiering disk budget", func(c *Config) { c.TieringDir, c.MaxMemory, c.TieringMaxDisk = "/data", 1<<30, -1 }, "--tiering-max-disk -1: must not be negative"},
	}
	for _, tt := range tests {
		check(t, ok, tt.name, tt.mod, tt.wantErr)
	}
}

func check(t *testing.T, ok Config, name string, mod func(*Config), wantErr string) {
	t.Helper()
	c := ok
	mod(&c)
	err := c.Validate()
	if (wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), wantErr)) {
		t.Errorf("%s: err = %v, want %q", name, err, wantErr)
	}
}

func TestValidateTLSPorts(t *testing.T) {
	files, err := tlsconf.Generate(t.TempDir(), nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	src, err := tlsconf.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	caOnly, err := tlsconf.Load(tlsconf.Files{CA: files.CA})
	if err != nil {
		t.Fatal(err)
	}
	ok := Config{EtcdEndpoints: []string{"m-0:2379"}, AdvertiseHost: "10.0.0.5", Port: 6379, HTTPPort: 8080,
		LeaseTTL: 5 * time.Second, ProtoMaxBulkLen: 512 << 20, ReplTimeout: 500 * time.Millisecond, ReplBacklog: 64 << 20,
		TLS: src, TLSPort: 6390, TLSAuthClients: tlsconf.AuthYes, ReplPort: 6380}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"ok", func(*Config) {}, ""},
		{"TLS only", func(c *Config) { c.Port = 0 }, ""},
		{"no plain, no TLS port", func(c *Config) { c.Port, c.TLSPort = 0, 0 }, "--port 0 (no plain RESP port) needs --tls-port"},
		{"no repl port", func(c *Config) { c.ReplPort = 0 }, "--repl-port is 0: with TLS the internal links"},
		{"no certificate", func(c *Config) { c.TLS = caOnly }, "--tls-cert-file and --tls-key-file are empty"},
		{"auth", func(c *Config) { c.TLSAuthClients = "maybe" }, `--tls-auth-clients "maybe": want yes, no or optional`},
		{"tls port range", func(c *Config) { c.TLSPort = 70000 }, "--tls-port 70000: must be between 1 and 65535"},
		{"tls port without TLS", func(c *Config) { c.TLS, c.ReplPort = nil, 0 }, "--tls-port 6390 needs TLS: give --tls-cert-file"},
		{"repl port without TLS", func(c *Config) { c.TLS, c.TLSPort = nil, 0 }, "--repl-port 6380 needs TLS"},
		{"port 0 without TLS", func(c *Config) { c.TLS, c.TLSPort, c.ReplPort, c.Port = nil, 0, 0, 0 }, "--port 0 (no plain RESP port) needs --tls-port"},
	}
	for _, tt := range tests {
		check(t, ok, tt.name, tt.mod, tt.wantErr)
	}
}
