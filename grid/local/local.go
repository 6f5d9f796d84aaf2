// Package local runs a whole grid on loopback as child processes of the insight-grid
// binary: one manager and one data process per partition instance, each on its own ports,
// so a single instance can be killed (kill -9) and observed like a pod. It is for
// development, demos and tests; it must not be used by the manager or data roles.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
	"github.com/insightgrid/insight/grid/persist"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/wan"
)

// Config describes the grid to run.
type Config struct {
	Partitions int
	HA         bool
	BasePort   int
	Bind       string
	// DataDir holds the manager's etcd and, when given, every data instance's journal
	// and snapshots (InstanceDir); empty: a temporary directory removed on exit, the
	// data instances in memory only.
	DataDir     string
	AppendFsync string // every data instance's --appendfsync, with DataDir
	// TieringRAM turns tiered storage on: every data instance's --maxmemory, with its
	// --tiering-dir in its InstanceDir (so it needs DataDir); 0: off.
	TieringRAM     int64
	TieringMaxDisk int64 // every data instance's --tiering-max-disk, with TieringRAM

	RequirePass string
	Timeout     time.Duration
	// RestartDelay is how long after a data instance exits it is started again, as a
	// kubelet restarts a pod's container; 0: it stays dead. The manager is never restarted.
	RestartDelay time.Duration
	LeaseTTL     time.Duration // every data instance's --lease-ttl
	ReplTimeout  time.Duration // every data instance's --repl-timeout, when its data role has the flag
	// RestartQuorumWait is the manager's --restart-quorum-wait; 0: the manager's default.
	RestartQuorumWait time.Duration
	Exe               string // the insight-grid binary to start
	// SQLExe is the insight-sql binary to start one SQL endpoint with (ports base+3 for
	// MySQL, base+4 for its HTTP); empty: no SQL endpoint.
	SQLExe    string
	LogLevel  string
	LogFormat string
	Stdout    io.Writer // the summary and "ready"
	Stderr    io.Writer // the children's logs
	// Insecure runs the grid without an operator token and without TLS: every endpoint
	// open, the internal links in plain, for debugging.
	Insecure bool
	// UIReadOnly starts the manager with --ui-read-only.
	UIReadOnly bool

	// Site names this grid for WAN replication ("": off): its data instances keep
	// per-key conflict metadata, and this process runs the site's gateway on base+5,
	// sending the site's writes to WANTargets (grid/wan, docs/wan.md). With DataDir
	// the metadata and the outbox are journaled with the data instances' keys.
	Site          string
	WANTargets    []wan.GatewayTarget
	WANOutboxMax  int
	WANOutboxFull string
	// WANPolicies are the data instances' --wan-policy values, in order.
	WANPolicies []string
	// WANBind is the address the gateway's sink listens on ("": Bind), for a site whose
	// gateway the other sites reach over a network rather than loopback; the grid's
	// certificate then names it too. The rest of the grid stays on Bind.
	WANBind string

	// tokenFile is the operator token file Run makes in the data directory ("" with
	// Insecure), given to the manager and every data instance.
	tokenFile string
	// tls are the CA, certificate and key Run makes in the data directory (none with
	// Insecure): the data instances' internal links run over mutual TLS on their
	// replication ports, and each serves RESP over TLS beside plain RESP.
	tls tlsconf.Files
	// nodeName is what the data instances register as their node (--node-name): this
	// machine's host name, "local" when it has none; "" when the data role has no
	// --node-name. No zone: one machine is one zone.
	nodeName string
}

// Port offsets from BasePort.
const (
	offClient   = 0
	offPeer     = 1
	offAPI      = 2
	offSQL      = 3
	offSQLHTTP  = 4
	offMetrics  = 9 // the manager's metrics port (5-8 stay free for tests' own servers)
	offRESP     = 10
	offTLS      = 510
	offHTTP     = 1010
	offRepl     = 1510
	offDataMet  = 2010 // the data instances' metrics ports
	maxInstance = offTLS - offRESP
)

// MaxBasePort is the highest --base-port: the last data instance's metrics port is 65535.
const MaxBasePort = 65535 - offDataMet - maxInstance

// PortOffsets are the offsets from --base-port of every port a grid of the given number of
// data instances listens on (the manager's, the SQL endpoint's, a WAN gateway's and each
// instance's): what a caller reserves before it starts one, with ports.FreeBase up to
// MaxBasePort.
func PortOffsets(instances int) []int {
	offs := []int{offClient, offPeer, offAPI, offSQL, offSQLHTTP, offWAN, offMetrics}
	for k := range instances {
		offs = append(offs, offRESP+k, offTLS+k, offHTTP+k, offRepl+k, offDataMet+k)
	}
	return offs
}

// Validate checks the configuration without side effects.
func (c *Config) Validate() error {
	var errs []error
	if c.Partitions < 1 || c.Partitions > maxInstance/2 {
		errs = append(errs, fmt.Errorf("--partitions %d: must be between 1 and %d", c.Partitions, maxInstance/2))
	}
	if c.BasePort < 1024 || c.BasePort > MaxBasePort {
		errs = append(errs, fmt.Errorf("--base-port %d: must be between 1024 and %d (the grid uses ports up to base+%d)", c.BasePort, MaxBasePort, offDataMet+maxInstance))
	}
	if ip := net.ParseIP(c.Bind); ip == nil || !ip.IsLoopback() {
		errs = append(errs, fmt.Errorf("--bind %q: the local grid listens on loopback only; use an address in 127.0.0.0/8 or ::1", c.Bind))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: must be positive", c.Timeout))
	}
	if c.RestartDelay < 0 {
		errs = append(errs, fmt.Errorf("--restart-delay %s: must be 0 (an exited instance stays dead) or positive", c.RestartDelay))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("--lease-ttl %s: must be at least 1s", c.LeaseTTL))
	}
	// The data role's own bounds, checked here so a bad value fails before any start.
	if c.RestartQuorumWait < 0 {
		errs = append(errs, fmt.Errorf("--restart-quorum-wait %s: must be 0 (the manager's default) or more", c.RestartQuorumWait))
	}
	if c.ReplTimeout < 50*time.Millisecond || c.ReplTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("--repl-timeout %s: must be between 50ms and 1m", c.ReplTimeout))
	}
	errs = append(errs, c.validateWAN()...)
	if c.DataDir != "" {
		if _, err := persist.ParseFsync(c.AppendFsync); err != nil {
			errs = append(errs, fmt.Errorf("--appendfsync %w", err))
		}
	}
	switch {
	case c.TieringRAM < 0:
		errs = append(errs, fmt.Errorf("--tiering-ram %d: must not be negative (0: tiered storage off)", c.TieringRAM))
	case c.TieringRAM > 0 && c.DataDir == "":
		errs = append(errs, fmt.Errorf("--tiering-ram %d needs --data-dir: the cold values live in each instance's directory there", c.TieringRAM))
	case c.TieringMaxDisk != 0 && c.TieringRAM == 0:
		errs = append(errs, fmt.Errorf("--tiering-max-disk %d needs --tiering-ram (tiered storage off without it)", c.TieringMaxDisk))
	case c.TieringMaxDisk < 0:
		errs = append(errs, fmt.Errorf("--tiering-max-disk %d: must not be negative (0: no bound)", c.TieringMaxDisk))
	}
	return errors.Join(errs...)
}

// Instance is one data process of the local grid.
type Instance struct {
	Partition, Instance int
	RESP, HTTP          string // host:port
	TLS, Repl           string // host:port of RESP over TLS and of the internal links (mutual TLS)
	Metrics             string // host:port of GET /metrics
}

// Layout is where every process of the grid listens.
type Layout struct {
	EtcdClient, EtcdPeer, API string
	Metrics                   string // the manager's GET /metrics
	SQL, SQLHTTP              string // the SQL endpoint's MySQL and HTTP addresses, with Config.SQLExe
	Instances                 []Instance
}

// NewLayout computes the ports of cfg's grid: the manager's etcd client base+0, peer
// base+1, API base+2 and metrics base+9; instance k (partition-major, instance minor)
// gets RESP base+10+k, RESP over TLS base+510+k, HTTP base+1010+k, the internal links'
// port base+1510+k and metrics base+2010+k.
func NewLayout(cfg Config) Layout {
	at := func(off int) string { return net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.BasePort+off)) }
	l := Layout{EtcdClient: at(offClient), EtcdPeer: at(offPeer), API: at(offAPI), Metrics: at(offMetrics), SQL: at(offSQL), SQLHTTP: at(offSQLHTTP)}
	for p := range cfg.Partitions {
		l.Instances = append(l.Instances, partitionInstances(cfg, p)...)
	}
	return l
}

// partitionInstances are partition p's instances in the layout of cfg, whatever the
// number of partitions: instance k = p*per+i.
func partitionInstances(cfg Config, p int) []Instance {
	at := func(off int) string { return net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.BasePort+off)) }
	per := 1
	if cfg.HA {
		per = 2
	}
	out := make([]Instance, 0, per)
	for i := range per {
		k := p*per + i
		out = append(out, Instance{Partition: p, Instance: i, RESP: at(offRESP + k), HTTP: at(offHTTP + k), TLS: at(offTLS + k), Repl: at(offRepl + k), Metrics: at(offDataMet + k)})
	}
	return out
}

// proc is one started process.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's result, set before exited is closed
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// dataNice is the scheduling niceness of the data instances: on one machine they share
// the CPUs with the manager, whose etcd every instance's registration lease and record
// writes depend on; as a Kubernetes deployment gives the managers CPU of their own, local
// lets the manager run first when the CPUs are short (with 64 partitions, 128 instances
// against one manager), so leases are renewed in time and no instance is taken for dead
// because etcd was starved.
const dataNice = 5

// startProc starts exe with args through sp: in its own process group (a Ctrl-C on the
// terminal reaches only local, which stops the children in order, so data instances
// deregister while etcd still runs) and killed if local dies (Pdeathsig). A data
// instance runs at dataNice.
func startProc(sp *spawner, exe string, args []string, out io.Writer, extraEnv ...string) (*proc, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(childEnv(), extraEnv...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := sp.start(cmd); err != nil {
		return nil, fmt.Errorf("%s: %w", exe, err)
	}
	if len(args) > 0 && args[0] == "data" {
		// Every thread of the process group (the child alone), so the threads it starts
		// later inherit it. Raising niceness needs no privilege; a failure costs only the
		// priority.
		_ = syscall.Setpriority(syscall.PRIO_PGRP, cmd.Process.Pid, dataNice)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// spawner starts every child from one goroutine locked to its OS thread: Pdeathsig is
// delivered when the thread that forked the child ends, so that thread must live as long
// as the grid.
type spawner struct {
	reqs chan spawnReq
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func newSpawner(ctx context.Context) *spawner {
	s := &spawner{reqs: make(chan spawnReq)}
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for {
			select {
			case r := <-s.reqs:
				r.done <- r.cmd.Start()
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	s.reqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}

// childEnv is this process's environment without INSIGHT_* variables, so each child is
// configured by its flags alone.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INSIGHT_") {
			env = append(env, kv)
		}
	}
	return env
}

// child is one process of the grid (the manager or a data instance): how it is started
// and the process running it now.
type child struct {
	name    string
	health  string // URL polled for readiness
	status  string // data instances: GET /v1/status, ready once it routes every slot
	args    []string
	restart bool // started again after it exits (data instances, not the manager)

	// Guarded by group.mu.
	cur      *proc
	restarts int
	removed  bool // stopped for good: its partition left the grid
}

// group runs the grid's processes and restarts the data instances that exit, like a
// kubelet restarting a pod's container. Every start happens under mu after checking
// stopping, so once stop has begun nothing new is started and every process stop signals
// is the last one of its child.
type group struct {
	spawn func(args []string) (*proc, error)
	delay time.Duration // RestartDelay; 0: no restarts
	logw  io.Writer

	logMu sync.Mutex // one line at a time on logw

	mu       sync.Mutex
	stopping bool
	children []*child

	quit chan struct{} // closed by stop
	wg   sync.WaitGroup
}

var (
	errStopping = errors.New("the grid is stopping")
	errRemoved  = errors.New("removed from the grid")
)

func newGroup(spawn func(args []string) (*proc, error), delay time.Duration, logw io.Writer) *group {
	return &group{spawn: spawn, delay: delay, logw: logw, quit: make(chan struct{})}
}

func (g *group) logf(format string, a ...any) {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	fmt.Fprintf(g.logw, "insight-grid local: "+format+"\n", a...)
}

// add starts c's first process.
func (g *group) add(c *child) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		return errStopping
	}
	p, err := g.spawn(c.args)
	if err != nil {
		return fmt.Errorf("starting %s: %w", c.name, err)
	}
	c.cur = p
	g.children = append(g.children, c)
	return nil
}

// current is the process running c now.
func (g *group) current(c *child) *proc {
	g.mu.Lock()
	defer g.mu.Unlock()
	return c.cur
}

// restarts is how many times c was started again.
func (g *group) restarts(c *child) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return c.restarts
}

// respawn starts c again unless the group is stopping.
func (g *group) respawn(c *child) (*proc, int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		return nil, 0, errStopping
	}
	if c.removed {
		return nil, 0, errRemoved
	}
	p, err := g.spawn(c.args)
	if err != nil {
		return nil, 0, err
	}
	c.cur, c.restarts = p, c.restarts+1
	return p, c.restarts, nil
}

// supervise watches c from now on: it logs each exit that is not part of stopping and,
// for a restartable child with a positive delay, starts it again after the delay (and
// again after each failed start) until ctx ends or the group stops.
func (g *group) supervise(ctx context.Context, c *child) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			p := g.current(c)
			select {
			case <-p.exited:
			case <-ctx.Done():
				return
			case <-g.quit:
				return
			}
			if g.isStopping() || g.isRemoved(c) || ctx.Err() != nil {
				return
			}
			if !c.restart || g.delay == 0 {
				// Stays dead (as a pod would until restarted); the grid keeps running so
				// failure handling can be observed.
				g.logf("%s (pid %d) exited: %v", c.name, p.pid(), p.err)
				return
			}
			g.logf("%s (pid %d) exited: %v; restarting it in %s", c.name, p.pid(), p.err, g.delay)
			for {
				t := time.NewTimer(g.delay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				case <-g.quit:
					t.Stop()
					return
				}
				np, n, err := g.respawn(c)
				if errors.Is(err, errStopping) || errors.Is(err, errRemoved) {
					return
				}
				if err == nil {
					g.logf("%s restarted (pid %d, restart %d)", c.name, np.pid(), n)
					break
				}
				g.logf("restarting %s failed: %v; trying again in %s", c.name, err, g.delay)
			}
		}
	}()
}

func (g *group) isRemoved(c *child) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return c.removed
}

// remove stops c for good: no restart, SIGTERM (a primary hands over first), SIGKILL
// after grace.
func (g *group) remove(c *child, grace time.Duration) {
	g.mu.Lock()
	c.removed = true
	g.children = slices.DeleteFunc(g.children, func(o *child) bool { return o == c })
	p := c.cur
	g.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		g.logf("%s (pid %d) did not stop in %s, killing it", c.name, p.pid(), grace)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (g *group) isStopping() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopping
}

// stop ends restarts, then sends SIGTERM to every live child, data instances first so
// they deregister while the manager (the first child) still runs, then the manager;
// SIGKILL for any still alive after grace.
func (g *group) stop(grace time.Duration) {
	g.mu.Lock()
	if !g.stopping {
		g.stopping = true
		close(g.quit)
	}
	type named struct {
		name string
		p    *proc
	}
	order := make([]named, 0, len(g.children))
	for i := len(g.children) - 1; i >= 0; i-- {
		order = append(order, named{g.children[i].name, g.children[i].cur})
	}
	g.mu.Unlock()
	g.wg.Wait()
	last := max(len(order)-1, 0)
	for _, batch := range [][]named{order[:last], order[last:]} {
		for _, n := range batch {
			_ = n.p.cmd.Process.Signal(syscall.SIGTERM)
		}
		deadline := time.Now().Add(grace)
		for _, n := range batch {
			select {
			case <-n.p.exited:
			case <-time.After(time.Until(deadline)):
				g.logf("%s (pid %d) did not stop in %s, killing it", n.name, n.p.pid(), grace)
				_ = n.p.cmd.Process.Kill()
				<-n.p.exited
			}
		}
	}
}

// InstanceDir is where data instance in keeps its journal and snapshots under dataDir.
func InstanceDir(dataDir string, in Instance) string {
	return filepath.Join(dataDir, "instances", fmt.Sprintf("p%d-i%d", in.Partition, in.Instance))
}

// dataChild is data instance in as a child of the group.
func dataChild(cfg Config, l Layout, in Instance, replTimeout bool) *child {
	return &child{
		name:    fmt.Sprintf("p%d-i%d", in.Partition, in.Instance),
		health:  "http://" + in.HTTP + "/readyz",
		status:  "http://" + in.HTTP + "/v1/status",
		args:    dataArgs(cfg, l, in, replTimeout),
		restart: true,
	}
}

// dataArgs is the command line of data instance in; replTimeout says whether the data
// role has --repl-timeout.
func dataArgs(cfg Config, l Layout, in Instance, replTimeout bool) []string {
	args := []string{"data",
		"--partition", strconv.Itoa(in.Partition), "--instance", strconv.Itoa(in.Instance),
		"--etcd-endpoints", l.EtcdClient, "--advertise-host", cfg.Bind,
		"--port", port(in.RESP), "--http-port", port(in.HTTP), "--metrics-port", port(in.Metrics),
		"--lease-ttl", cfg.LeaseTTL.String(),
	}
	if replTimeout {
		args = append(args, "--repl-timeout", cfg.ReplTimeout.String())
	}
	args = append(args, "--bind", cfg.Bind, "--log-level", cfg.LogLevel, "--log-format", cfg.LogFormat)
	if cfg.nodeName != "" {
		args = append(args, "--node-name", cfg.nodeName)
	}
	if cfg.RequirePass != "" {
		args = append(args, "--requirepass", cfg.RequirePass)
	}
	if cfg.DataDir != "" {
		args = append(args, "--data-dir", InstanceDir(cfg.DataDir, in), "--appendfsync", cfg.AppendFsync)
	}
	args = append(args, wanDataArgs(cfg)...)
	if cfg.TieringRAM > 0 {
		args = append(args, "--maxmemory", strconv.FormatInt(cfg.TieringRAM, 10), "--tiering-dir", InstanceDir(cfg.DataDir, in),
			"--tiering-max-disk", strconv.FormatInt(cfg.TieringMaxDisk, 10))
	}
	if cfg.tokenFile != "" {
		args = append(args, "--operator-token-file", cfg.tokenFile)
	}
	if cfg.tls.CA != "" {
		// The HTTP ports stay plain: the tools and tests reading /v1/status and the
		// manager's API find them at http:// (see docs/grid.md, TLS).
		args = append(args, "--tls-cert-file", cfg.tls.Cert, "--tls-key-file", cfg.tls.Key, "--tls-ca-cert-file", cfg.tls.CA,
			"--tls-port", port(in.TLS), "--tls-auth-clients", "optional", "--repl-port", port(in.Repl), "--tls-http=false")
	}
	return args
}

// localNodeName is the node the data instances of a local grid run on: the machine's
// host name, "local" when it has none.
func localNodeName() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "local"
}

// hasFlag reports whether usage (a role's -h output) lists the flag --name.
func hasFlag(usage []byte, name string) bool {
	return regexp.MustCompile(`(?m)^\s*-` + regexp.QuoteMeta(name) + `(\s|$)`).Match(usage)
}

// dataHasFlag reports whether exe's data role has the flag --name: a binary built before
// the flag existed refuses it, so local passes it only when the data role lists it.
func dataHasFlag(exe, name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "data", "-h")
	cmd.Env = childEnv()
	out, _ := cmd.CombinedOutput()
	return hasFlag(out, name)
}

// Run starts the grid, prints its addresses and "ready" once every process is ready,
// restarts data instances that exit (after RestartDelay), and stops everything when ctx
// ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	layout := NewLayout(cfg)
	if err := checkPorts(cfg, layout); err != nil {
		return err
	}
	warnEphemeral(cfg.Stderr, cfg, layout)
	dir := cfg.DataDir
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("--data-dir %s: %w", dir, err)
		}
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "insight-grid-local-")
		if err != nil {
			return fmt.Errorf("creating a data directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if !cfg.Insecure {
		tf, err := writeOperatorToken(dir)
		if err != nil {
			return err
		}
		cfg.tokenFile = tf
		if cfg.tls, err = tlsconf.Generate(filepath.Join(dir, tlsDir), []string{cfg.Bind, cfg.WANBind}, tlsValidity); err != nil {
			return fmt.Errorf("making the grid's CA and certificate: %w", err)
		}
	}
	if dataHasFlag(cfg.Exe, "node-name") {
		cfg.nodeName = localNodeName()
	}
	replTimeout := dataHasFlag(cfg.Exe, "repl-timeout")
	if !replTimeout {
		fmt.Fprintf(cfg.Stderr, "insight-grid local: the data role of %s has no --repl-timeout; starting data instances without it\n", cfg.Exe)
	}
	spawnCtx, stopSpawner := context.WithCancel(context.Background())
	defer stopSpawner()
	sp := newSpawner(spawnCtx)
	g := newGroup(func(args []string) (*proc, error) { return startProc(sp, cfg.Exe, args, cfg.Stderr) }, cfg.RestartDelay, cfg.Stderr)
	defer g.stop(10 * time.Second) // before stopSpawner: no start after this

	managerArgs := []string{"manager",
		"--name", "local-manager", "--data-dir", dir, "--advertise-host", cfg.Bind,
		"--client-port", port(layout.EtcdClient), "--peer-port", port(layout.EtcdPeer), "--http-port", port(layout.API),
		"--metrics-port", port(layout.Metrics),
		"--partitions", strconv.Itoa(cfg.Partitions), "--ha=" + strconv.FormatBool(cfg.HA),
		// Loopback has no network delay: a short election timeout makes the member lead
		// at once. The heartbeat is raft's tick, which wakes the manager however idle:
		// 100 ms (etcd's default) rather than 20 ms.
		"--etcd-heartbeat", "100ms", "--etcd-election", "500ms",
		"--bind", cfg.Bind, "--log-level", cfg.LogLevel, "--log-format", cfg.LogFormat,
	}
	if cfg.RestartQuorumWait > 0 {
		managerArgs = append(managerArgs, "--restart-quorum-wait", cfg.RestartQuorumWait.String())
	}
	if cfg.tokenFile != "" {
		managerArgs = append(managerArgs, "--operator-token-file", cfg.tokenFile)
	}
	if cfg.UIReadOnly {
		managerArgs = append(managerArgs, "--ui-read-only")
	}
	if cfg.Site != "" {
		managerArgs = append(managerArgs, "--wan-site", cfg.Site)
	}
	if cfg.RequirePass != "" {
		// For the key browser's connections to the data instances.
		managerArgs = append(managerArgs, "--requirepass", cfg.RequirePass)
	}
	if cfg.tls.CA != "" {
		// etcd over mutual TLS; the API stays plain (see dataArgs).
		managerArgs = append(managerArgs, "--tls-cert-file", cfg.tls.Cert, "--tls-key-file", cfg.tls.Key, "--tls-ca-cert-file", cfg.tls.CA, "--tls-http=false")
	}
	children := []*child{{name: "manager", health: "http://" + layout.API + "/readyz", args: managerArgs}}
	for _, in := range layout.Instances {
		children = append(children, dataChild(cfg, layout, in, replTimeout))
	}
	for _, c := range children {
		if err := g.add(c); err != nil {
			return err
		}
	}
	if err := waitReady(ctx, g, children, cfg.Timeout); err != nil {
		return err
	}
	w := cfg.Stdout
	fmt.Fprintf(w, "insight-grid local: %d partitions, ha=%v, data in %s\n", cfg.Partitions, cfg.HA, dir)
	fmt.Fprintf(w, "  %-8s pid %-7d etcd %s  api http://%s  metrics %s\n", "manager", g.current(children[0]).pid(), layout.EtcdClient, layout.API, layout.Metrics)
	for i, in := range layout.Instances {
		fmt.Fprintf(w, "  p%d-i%d    pid %-7d resp %s  http %s  metrics %s", in.Partition, in.Instance, g.current(children[i+1]).pid(), in.RESP, in.HTTP, in.Metrics)
		if cfg.tls.CA != "" {
			fmt.Fprintf(w, "  tls %s  repl %s", in.TLS, in.Repl)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "seed %s\n", layout.Instances[0].RESP)
	if cfg.tls.CA != "" {
		fmt.Fprintf(w, "seed-tls %s\n", layout.Instances[0].TLS)
	}
	fmt.Fprintf(w, "manager http://%s\n", layout.API)
	if cfg.tokenFile != "" {
		fmt.Fprintf(w, "operator-token-file %s\n", cfg.tokenFile)
	}
	login, err := uiLoginURL(cfg, layout)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "ui %s\n", login)
	if cfg.tls.CA != "" {
		fmt.Fprintf(w, "ca-cert-file %s\ntls-cert-file %s\ntls-key-file %s\n", cfg.tls.CA, cfg.tls.Cert, cfg.tls.Key)
	}
	if cfg.SQLExe != "" {
		sqlp, err := startSQL(ctx, sp, cfg, layout)
		if err != nil {
			return err
		}
		defer stopSQL(sqlp, cfg.Stderr)
		fmt.Fprintf(w, "sql mysql://%s\n", layout.SQL)
	}
	if cfg.Site != "" {
		gwAddr, gwDone, err := startGateway(ctx, cfg, layout)
		if err != nil {
			return err
		}
		defer func() {
			if err := <-gwDone; err != nil {
				fmt.Fprintf(cfg.Stderr, "insight-grid local: the WAN gateway stopped: %v\n", err)
			}
		}()
		scheme := "https"
		if cfg.tls.CA == "" {
			scheme = "http"
		}
		fmt.Fprintf(w, "wan-site %s\nwan-gateway %s://%s\n", cfg.Site, scheme, gwAddr)
	}
	fmt.Fprintln(w, "ready")

	for _, c := range children {
		g.supervise(ctx, c)
	}
	f := &follower{cfg: cfg, layout: layout, g: g, replTimeout: replTimeout, out: w, partitions: cfg.Partitions, running: map[int][]*child{}}
	for _, c := range children[1:] {
		var p, i int
		_, _ = fmt.Sscanf(c.name, "p%d-i%d", &p, &i)
		f.running[p] = append(f.running[p], c)
	}
	f.run(ctx)
	return nil
}

func port(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

// waitReady polls every child's readiness URL until all answer 200 and every data
// instance routes every slot (so a client's first CLUSTER SLOTS, on any of them, lists
// the whole grid), a child exits, or the timeout passes. It runs before any restart, so
// each child has its first process.
func waitReady(ctx context.Context, g *group, children []*child, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	ready := make([]bool, len(children))
	for {
		n := 0
		for i, c := range children {
			p := g.current(c)
			select {
			case <-p.exited:
				return fmt.Errorf("%s exited before it was ready: %v", c.name, p.err)
			default:
			}
			if !ready[i] {
				ready[i] = get(ctx, hc, c.health, nil) && (c.status == "" || routesAll(ctx, hc, c.status))
			}
			if ready[i] {
				n++
			}
		}
		if n == len(children) {
			return nil
		}
		select {
		case <-ctx.Done():
			var waiting []string
			for i, c := range children {
				if !ready[i] {
					waiting = append(waiting, c.name)
				}
			}
			return fmt.Errorf("grid not ready after %s, waiting for %s: %w", timeout, strings.Join(waiting, ", "), ctx.Err())
		case <-tick.C:
		}
	}
}

// routesAll reports whether the data instance whose GET /v1/status is url routes every
// slot to a primary.
func routesAll(ctx context.Context, hc *http.Client, url string) bool {
	var st cluster.InstanceStatus
	return get(ctx, hc, url, &st) && st.RoutedSlots == slots.Count
}

// get reports whether url answers 200 and, with into, a JSON body that decodes into it.
func get(ctx context.Context, hc *http.Client, url string, into any) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && (into == nil || json.NewDecoder(resp.Body).Decode(into) == nil)
}
