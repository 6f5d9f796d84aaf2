package local

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Config{Partitions: 3, BasePort: 7000, Bind: "127.0.0.1", Timeout: time.Minute}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"ok", func(*Config) {}, ""},
		{"zero partitions", func(c *Config) { c.Partitions = 0 }, "--partitions 0: must be between 1 and 500"},
		{"low port", func(c *Config) { c.BasePort = 80 }, "--base-port 80: must be between 1024 and"},
		{"high port", func(c *Config) { c.BasePort = 65000 }, "--base-port 65000"},
		{"not loopback", func(c *Config) { c.Bind = "0.0.0.0" }, `--bind "0.0.0.0": the local grid listens on loopback only`},
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

func TestLayout(t *testing.T) {
	l := NewLayout(Config{Partitions: 2, HA: true, BasePort: 7000, Bind: "127.0.0.1"})
	if l.EtcdClient != "127.0.0.1:7000" || l.EtcdPeer != "127.0.0.1:7001" || l.API != "127.0.0.1:7002" {
		t.Fatalf("manager ports: %+v", l)
	}
	want := []Instance{
		{0, 0, "127.0.0.1:7010", "127.0.0.1:8010"},
		{0, 1, "127.0.0.1:7011", "127.0.0.1:8011"},
		{1, 0, "127.0.0.1:7012", "127.0.0.1:8012"},
		{1, 1, "127.0.0.1:7013", "127.0.0.1:8013"},
	}
	if len(l.Instances) != len(want) {
		t.Fatalf("instances: %+v", l.Instances)
	}
	for i := range want {
		if l.Instances[i] != want[i] {
			t.Errorf("instance %d = %+v, want %+v", i, l.Instances[i], want[i])
		}
	}
}
