package data

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Config{EtcdEndpoints: []string{"m-0:2379"}, AdvertiseHost: "10.0.0.5", Port: 6379, HTTPPort: 8080,
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
		{"lease", func(c *Config) { c.LeaseTTL = time.Millisecond }, "--lease-ttl 1ms: must be at least 1s"},
		{"bulk", func(c *Config) { c.ProtoMaxBulkLen = 10 }, "--proto-max-bulk-len 10: must be at least 1mb"},
		{"repl timeout", func(c *Config) { c.ReplTimeout = time.Millisecond }, "--repl-timeout 1ms: must be between 50ms and 1m"},
		{"backlog", func(c *Config) { c.ReplBacklog = 1000 }, "--repl-backlog-size 1000: must be between 1mb and 1tb"},
	}
	for _, tt := range tests {
		c := ok
		tt.mod(&c)
		err := c.Validate()
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}
