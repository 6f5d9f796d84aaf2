package manager

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Config{Name: "m-0", AdvertiseHost: "m-0.mgr", ClientPort: 2379, PeerPort: 2380, HTTPPort: 8090, MetricsPort: 9122,
		Partitions: 3, Heartbeat: 100 * time.Millisecond, Election: time.Second}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"ok", func(*Config) {}, ""},
		{"three members", func(c *Config) { c.InitialCluster = "m-0=http://a:2380,m-1=http://b:2380,m-2=http://c:2380" }, ""},
		{"not listed", func(c *Config) { c.InitialCluster = "m-1=http://b:2380" }, `does not list this member's --name "m-0"`},
		{"bad entry", func(c *Config) { c.InitialCluster = "m-0" }, `entry "m-0" is not name=http://host:port`},
		{"https peer", func(c *Config) { c.InitialCluster = "m-0=https://a:2380" }, "the peer URL must be http://host:port"},
		{"port", func(c *Config) { c.PeerPort = 0 }, "--peer-port 0: must be between 1 and 65535"},
		{"no metrics port", func(c *Config) { c.MetricsPort = 0 }, ""},
		{"metrics port range", func(c *Config) { c.MetricsPort = -1 }, "--metrics-port -1: must be between 0 (none) and 65535"},
		{"metrics on the API port", func(c *Config) { c.MetricsPort = 8090 }, "--metrics-port 8090: --http-port uses it too; give the metrics a port of their own"},
		{"metrics on etcd's client port", func(c *Config) { c.MetricsPort = 2379 }, "--metrics-port 2379: --client-port uses it too"},
		{"partitions", func(c *Config) { c.Partitions = 0 }, "--partitions 0: must be between 1 and 16384"},
		{"election", func(c *Config) { c.Election = 200 * time.Millisecond }, "the election timeout at least 5 heartbeats"},
		{"name", func(c *Config) { c.Name = "" }, "--name is empty"},
		{"failback delay", func(c *Config) { c.FailbackDelay = -time.Second }, "--failback-delay -1s: must be 0 or more"},
		{"restart quorum wait", func(c *Config) { c.RestartQuorumWait = -time.Second }, "--restart-quorum-wait -1s: must be 0 or more"},
		{"cluster state", func(c *Config) { c.ClusterState = "old" }, `--initial-cluster-state "old": want new or existing`},
		{"existing without join", func(c *Config) {
			c.ClusterState, c.InitialCluster = ClusterStateExisting, "m-0=http://a:2380,m-1=http://b:2380"
		}, "--initial-cluster-state existing needs --join"},
		{"existing alone", func(c *Config) { c.ClusterState = ClusterStateExisting }, ""},
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

// A member joins a running cluster only when told it exists, it has no data and other
// members are named: a lone member without data starts its own cluster, as on install.
func TestJoins(t *testing.T) {
	three := "m-0=http://a:2380,m-1=http://b:2380,m-2=http://c:2380"
	withData := t.TempDir()
	if err := os.MkdirAll(filepath.Join(withData, "etcd", "member"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		state   string
		initial string
		join    []string
		dir     string
		want    bool
	}{
		{"existing, empty, three", ClusterStateExisting, three, []string{"a:2379"}, t.TempDir(), true},
		{"new", ClusterStateNew, three, []string{"a:2379"}, t.TempDir(), false},
		{"existing with data", ClusterStateExisting, three, []string{"a:2379"}, withData, false},
		{"existing alone", ClusterStateExisting, "m-0=http://a:2380", []string{"a:2379"}, t.TempDir(), false},
		{"no join", ClusterStateExisting, three, nil, t.TempDir(), false},
	} {
		c := Config{Name: "m-0", ClusterState: tt.state, InitialCluster: tt.initial, Join: tt.join, DataDir: tt.dir}
		if got := c.joins(); got != tt.want {
			t.Errorf("%s: joins() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
