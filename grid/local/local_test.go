package local

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/wan"
)

func TestValidate(t *testing.T) {
	ok := Config{Partitions: 3, BasePort: 7000, Bind: "127.0.0.1", Timeout: time.Minute,
		RestartDelay: time.Second, LeaseTTL: 2 * time.Second, ReplTimeout: 500 * time.Millisecond}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"ok", func(*Config) {}, ""},
		{"zero partitions", func(c *Config) { c.Partitions = 0 }, "--partitions 0: must be between 1 and 250"},
		{"low port", func(c *Config) { c.BasePort = 80 }, "--base-port 80: must be between 1024 and"},
		{"high port", func(c *Config) { c.BasePort = 65000 }, "--base-port 65000"},
		{"highest port", func(c *Config) { c.BasePort = 63025 }, ""},
		{"data metrics past 65535", func(c *Config) { c.BasePort = 63026 }, "--base-port 63026: must be between 1024 and 63025 (the grid uses ports up to base+2510)"},
		{"not loopback", func(c *Config) { c.Bind = "0.0.0.0" }, `--bind "0.0.0.0": the local grid listens on loopback only`},
		{"no restarts", func(c *Config) { c.RestartDelay = 0 }, ""},
		{"negative restart delay", func(c *Config) { c.RestartDelay = -time.Second }, "--restart-delay -1s: must be 0 (an exited instance stays dead) or positive"},
		{"short lease", func(c *Config) { c.LeaseTTL = 500 * time.Millisecond }, "--lease-ttl 500ms: must be at least 1s"},
		{"zero repl timeout", func(c *Config) { c.ReplTimeout = 0 }, "--repl-timeout 0s: must be between 50ms and 1m"},
		{"long repl timeout", func(c *Config) { c.ReplTimeout = 2 * time.Minute }, "--repl-timeout 2m0s: must be between 50ms and 1m"},
		{"tiering", func(c *Config) {
			c.DataDir, c.AppendFsync, c.TieringRAM, c.TieringMaxDisk = "/tmp/x", "no", 64<<20, 1<<30
		}, ""},
		{"tiering without a data dir", func(c *Config) { c.TieringRAM = 64 << 20 }, "--tiering-ram 67108864 needs --data-dir"},
		{"negative tiering RAM", func(c *Config) { c.TieringRAM = -1 }, "--tiering-ram -1: must not be negative"},
		{"wan bind", func(c *Config) {
			c.Site, c.WANOutboxMax, c.WANOutboxFull, c.WANBind = "london", 10, "block", "10.0.0.1"
		}, ""},
		{"wan bind not an address", func(c *Config) {
			c.Site, c.WANOutboxMax, c.WANOutboxFull, c.WANBind = "london", 10, "block", "gw.example"
		}, `--wan-bind "gw.example": want an IP address`},
		{"wan bind insecure", func(c *Config) {
			c.Site, c.WANOutboxMax, c.WANOutboxFull, c.WANBind, c.Insecure = "london", 10, "block", "10.0.0.1", true
		}, "--wan-bind 10.0.0.1 with --insecure: the gateway would apply writes from anyone"},
		{"wan bind loopback insecure", func(c *Config) {
			c.Site, c.WANOutboxMax, c.WANOutboxFull, c.WANBind, c.Insecure = "london", 10, "block", "127.0.0.2", true
		}, ""},
		{"wan bind without a site", func(c *Config) { c.WANBind = "10.0.0.1" }, "--wan-bind given without --site"},
		{"tiering disk without RAM", func(c *Config) { c.TieringMaxDisk = 1 << 30 }, "--tiering-max-disk 1073741824 needs --tiering-ram"},
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
	if l.EtcdClient != "127.0.0.1:7000" || l.EtcdPeer != "127.0.0.1:7001" || l.API != "127.0.0.1:7002" || l.Metrics != "127.0.0.1:7009" {
		t.Fatalf("manager ports: %+v", l)
	}
	want := []Instance{
		{0, 0, "127.0.0.1:7010", "127.0.0.1:8010", "127.0.0.1:7510", "127.0.0.1:8510", "127.0.0.1:9010"},
		{0, 1, "127.0.0.1:7011", "127.0.0.1:8011", "127.0.0.1:7511", "127.0.0.1:8511", "127.0.0.1:9011"},
		{1, 0, "127.0.0.1:7012", "127.0.0.1:8012", "127.0.0.1:7512", "127.0.0.1:8512", "127.0.0.1:9012"},
		{1, 1, "127.0.0.1:7013", "127.0.0.1:8013", "127.0.0.1:7513", "127.0.0.1:8513", "127.0.0.1:9013"},
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

func TestDataArgs(t *testing.T) {
	cfg := Config{Partitions: 2, HA: true, BasePort: 7000, Bind: "127.0.0.1", LeaseTTL: 3 * time.Second,
		ReplTimeout: 250 * time.Millisecond, LogLevel: "info", LogFormat: "json"}
	l := NewLayout(cfg)
	got := strings.Join(dataArgs(cfg, l, l.Instances[3], true), " ")
	want := "data --partition 1 --instance 1 --etcd-endpoints 127.0.0.1:7000 --advertise-host 127.0.0.1 " +
		"--port 7013 --http-port 8013 --metrics-port 9013 --lease-ttl 3s --repl-timeout 250ms --bind 127.0.0.1 --log-level info --log-format json"
	if got != want {
		t.Errorf("dataArgs =\n%s\nwant\n%s", got, want)
	}
	cfg.nodeName = "laptop"
	if got := strings.Join(dataArgs(cfg, l, l.Instances[3], true), " "); !strings.Contains(got, " --log-format json --node-name laptop") {
		t.Errorf("dataArgs with a node name = %s", got)
	}
	cfg.nodeName = ""
	cfg.RequirePass = "s3cret"
	args := dataArgs(cfg, l, l.Instances[0], false)
	if slices.Contains(args, "--repl-timeout") || !slices.Contains(args, "s3cret") || !slices.Contains(args, "--lease-ttl") {
		t.Errorf("dataArgs without --repl-timeout, with a password = %v", args)
	}
	if slices.Contains(args, "--data-dir") {
		t.Errorf("dataArgs without a data directory keeps the data: %v", args)
	}
	cfg.DataDir, cfg.AppendFsync = "/var/grid", "always"
	got = strings.Join(dataArgs(cfg, l, l.Instances[3], true), " ")
	if !strings.Contains(got, " --data-dir /var/grid/instances/p1-i1 --appendfsync always") {
		t.Errorf("dataArgs with --data-dir = %s: want the instance's own directory", got)
	}
}

// TestValidateAppendFsync: a bad --appendfsync is refused when a data directory is given.
func TestValidateAppendFsync(t *testing.T) {
	cfg := Config{Partitions: 1, BasePort: 7000, Bind: "127.0.0.1", Timeout: time.Second, LeaseTTL: time.Second,
		ReplTimeout: time.Second, DataDir: "/tmp/x", AppendFsync: "often"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `--appendfsync "often": must be always, everysec or no`) {
		t.Errorf("Validate = %v", err)
	}
	cfg.AppendFsync = "no"
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
}

func TestHasFlag(t *testing.T) {
	usage := []byte("Usage: insight-grid data [flags]\n\n  -lease-ttl duration\n    \ttime to live (default 5s)\n  -pprof\n    \tserve Go profiles\n")
	for name, want := range map[string]bool{"lease-ttl": true, "pprof": true, "repl-timeout": false, "lease": false, "ttl": false} {
		if got := hasFlag(usage, name); got != want {
			t.Errorf("hasFlag(%q) = %v, want %v", name, got, want)
		}
	}
}

// shGroup is a group whose children run /bin/sh -c <args[0]>.
func shGroup(t *testing.T, delay time.Duration) (*group, *testutil.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sp := newSpawner(ctx)
	logs := &testutil.Buffer{}
	g := newGroup(func(args []string) (*proc, error) {
		return startProc(sp, "/bin/sh", append([]string{"-c"}, args...), logs)
	}, delay, logs)
	t.Cleanup(func() { g.stop(5 * time.Second) })
	return g, logs
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestGroupRestartsExitedDataInstance(t *testing.T) {
	g, logs := shGroup(t, 20*time.Millisecond)
	manager := &child{name: "manager", args: []string{"exec sleep 60"}}
	data := &child{name: "p0-i0", args: []string{"exit 3"}, restart: true}
	for _, c := range []*child{manager, data} {
		if err := g.add(c); err != nil {
			t.Fatal(err)
		}
		g.supervise(context.Background(), c)
	}
	testutil.Eventually(t, 10*time.Second, "3 restarts", func() bool { return g.restarts(data) >= 3 })
	g.stop(5 * time.Second)
	n := g.restarts(data)
	if !strings.Contains(logs.String(), "insight-grid local: p0-i0 (pid ") || !strings.Contains(logs.String(), "exited: exit status 3; restarting it in 20ms") {
		t.Errorf("no exit line in the log:\n%s", logs)
	}
	restarted := strings.Count(logs.String(), "insight-grid local: p0-i0 restarted (pid ")
	if restarted != n {
		t.Errorf("%d restarts but %d restart lines:\n%s", n, restarted, logs)
	}
	// stop waited for the supervisors: nothing is started any more.
	if err := g.add(&child{name: "late", args: []string{"exit 0"}}); !errors.Is(err, errStopping) {
		t.Errorf("add after stop: %v", err)
	}
	if _, _, err := g.respawn(data); !errors.Is(err, errStopping) {
		t.Errorf("respawn after stop: %v", err)
	}
	if g.restarts(data) != n {
		t.Errorf("restarted after stop: %d, then %d", n, g.restarts(data))
	}
	if p := g.current(manager); alive(p.pid()) {
		t.Errorf("manager (pid %d) still alive after stop", p.pid())
	}
}

func TestGroupKilledInstanceRestartsAndStopLeavesNothing(t *testing.T) {
	g, logs := shGroup(t, 50*time.Millisecond)
	children := []*child{
		{name: "manager", args: []string{"exec sleep 60"}},
		{name: "p0-i0", args: []string{"exec sleep 60"}, restart: true},
		{name: "p0-i1", args: []string{"exec sleep 60"}, restart: true},
	}
	for _, c := range children {
		if err := g.add(c); err != nil {
			t.Fatal(err)
		}
		g.supervise(context.Background(), c)
	}
	var pids []int
	for _, c := range children {
		pids = append(pids, g.current(c).pid())
	}
	// kill -9 of a data instance: a new process after the delay.
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "p0-i0's restart", func() bool { return g.restarts(children[1]) == 1 })
	newPid := g.current(children[1]).pid()
	if newPid == pids[1] || !alive(newPid) {
		t.Fatalf("p0-i0 after restart: pid %d (was %d)", newPid, pids[1])
	}
	if want := "insight-grid local: p0-i0 (pid "; !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "exited: signal: killed; restarting it in 50ms") {
		t.Errorf("log lacks the exit line:\n%s", logs)
	}
	// The manager is not restarted.
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the manager's exit line", func() bool { return strings.Contains(logs.String(), "manager (pid ") })
	if !strings.Contains(logs.String(), "manager (pid "+strconv.Itoa(pids[0])+") exited: signal: killed\n") || g.restarts(children[0]) != 0 {
		t.Errorf("the manager was restarted:\n%s", logs)
	}
	g.stop(5 * time.Second)
	for _, pid := range append(pids, newPid) {
		if alive(pid) {
			t.Errorf("pid %d alive after stop", pid)
		}
	}
	if g.restarts(children[1]) != 1 || g.restarts(children[2]) != 0 {
		t.Errorf("restarts after stop: p0-i0 %d, p0-i1 %d", g.restarts(children[1]), g.restarts(children[2]))
	}
}

func TestGroupWithoutRestartDelayKeepsExitedInstanceDead(t *testing.T) {
	g, logs := shGroup(t, 0)
	data := &child{name: "p1-i0", args: []string{"exit 7"}, restart: true}
	if err := g.add(data); err != nil {
		t.Fatal(err)
	}
	g.supervise(context.Background(), data)
	testutil.Eventually(t, 10*time.Second, "the exit line", func() bool { return strings.Contains(logs.String(), "exited: exit status 7\n") })
	g.stop(5 * time.Second)
	if g.restarts(data) != 0 || strings.Contains(logs.String(), "restart") {
		t.Errorf("restarted with --restart-delay 0:\n%s", logs)
	}
}

func TestGroupStopCancelsPendingRestart(t *testing.T) {
	g, logs := shGroup(t, time.Hour)
	data := &child{name: "p0-i1", args: []string{"exit 1"}, restart: true}
	if err := g.add(data); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g.supervise(ctx, data)
	testutil.Eventually(t, 10*time.Second, "the exit line", func() bool { return strings.Contains(logs.String(), "restarting it in 1h0m0s") })
	done := make(chan struct{})
	go func() { g.stop(5 * time.Second); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop waited for a pending restart")
	}
	if g.restarts(data) != 0 {
		t.Errorf("restarted during stop")
	}
}

func TestValidateWAN(t *testing.T) {
	ok := Config{Partitions: 1, BasePort: 7000, Bind: "127.0.0.1", Timeout: time.Minute, LeaseTTL: 2 * time.Second,
		ReplTimeout: 500 * time.Millisecond, Site: "london", WANOutboxMax: 10, WANOutboxFull: "block",
		WANTargets: []wan.GatewayTarget{{Name: "paris", Address: "127.0.0.1:9005", CAFile: "/ca", TokenFile: "/tok"}}}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"ok", func(*Config) {}, ""},
		{"bad site", func(c *Config) { c.Site = "Lon don" }, `--site "Lon don": a site name is 1 to 32 characters`},
		{"itself", func(c *Config) { c.WANTargets[0].Name = "london" }, "--wan-target london: that is this site"},
		{"twice", func(c *Config) { c.WANTargets = append(c.WANTargets, c.WANTargets[0]) }, "--wan-target paris given twice"},
		{"bad address", func(c *Config) { c.WANTargets[0].Address = "paris" }, `--wan-target paris="paris": want NAME=HOST:PORT`},
		{"no CA", func(c *Config) { c.WANTargets[0].CAFile = "" }, "--wan-target paris: give --wan-target-ca paris=FILE"},
		{"insecure with CA", func(c *Config) { c.Insecure = true }, "--insecure sends in plain without a token"},
		{"insecure", func(c *Config) { c.Insecure, c.WANTargets[0].CAFile, c.WANTargets[0].TokenFile = true, "", "" }, ""},
		{"outbox max", func(c *Config) { c.WANOutboxMax = 0 }, "--wan-outbox-max 0: must be at least 1"},
		{"outbox mode", func(c *Config) { c.WANOutboxFull = "drop" }, `--wan-outbox-full "drop": want block or mark-out-of-sync`},
	}
	for _, tt := range tests {
		c := ok
		c.WANTargets = slices.Clone(ok.WANTargets)
		tt.mod(&c)
		err := c.Validate()
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestDataArgsOfASiteRunInMemoryWithTheWANFlags(t *testing.T) {
	cfg := Config{Partitions: 1, BasePort: 7000, Bind: "127.0.0.1", LeaseTTL: 3 * time.Second, DataDir: "/var/grid",
		Site: "london", WANOutboxMax: 50, WANOutboxFull: "mark-out-of-sync",
		WANTargets: []wan.GatewayTarget{{Name: "paris"}, {Name: "tokyo"}}}
	l := NewLayout(cfg)
	got := strings.Join(dataArgs(cfg, l, l.Instances[0], false), " ")
	if strings.Contains(got, "--data-dir") || !strings.Contains(got, "--wan-site london --wan-targets paris,tokyo --wan-outbox-max 50 --wan-outbox-full mark-out-of-sync") {
		t.Errorf("dataArgs of a site = %s: want the WAN flags and no --data-dir", got)
	}
}

func TestParseWANTargets(t *testing.T) {
	got, err := ParseWANTargets([]string{"paris=127.0.0.1:1", "tokyo=127.0.0.1:2"}, []string{"tokyo=/t/ca"}, []string{"paris=/p/tok", "tokyo=/t/tok"})
	want := []wan.GatewayTarget{{Name: "paris", Address: "127.0.0.1:1", TokenFile: "/p/tok"}, {Name: "tokyo", Address: "127.0.0.1:2", CAFile: "/t/ca", TokenFile: "/t/tok"}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("ParseWANTargets = %+v, %v; want %+v", got, err, want)
	}
	if _, err := ParseWANTargets(nil, nil, []string{"paris"}); err == nil || !strings.Contains(err.Error(), `--wan-target-token-file "paris": want NAME=FILE`) {
		t.Errorf("a token file without its site's name: %v", err)
	}
}
