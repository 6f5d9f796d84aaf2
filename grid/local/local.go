// Package local runs a whole grid on loopback as child processes of the insight-grid
// binary: one manager and one data process per partition instance, each on its own ports,
// so a single instance can be killed (kill -9) and observed like a pod. It is for
// development, demos and tests; it must not be used by the manager or data roles.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config describes the grid to run.
type Config struct {
	Partitions  int
	HA          bool
	BasePort    int
	Bind        string
	DataDir     string // empty: a temporary directory removed on exit
	RequirePass string
	Timeout     time.Duration
	Exe         string // the insight-grid binary to start
	LogLevel    string
	LogFormat   string
	Stdout      io.Writer // the summary and "ready"
	Stderr      io.Writer // the children's logs
}

// Port offsets from BasePort.
const (
	offClient   = 0
	offPeer     = 1
	offAPI      = 2
	offRESP     = 10
	offHTTP     = 1010
	maxInstance = offHTTP - offRESP
)

// Validate checks the configuration without side effects.
func (c *Config) Validate() error {
	var errs []error
	if c.Partitions < 1 || c.Partitions > maxInstance/2 {
		errs = append(errs, fmt.Errorf("--partitions %d: must be between 1 and %d", c.Partitions, maxInstance/2))
	}
	if last := c.BasePort + offHTTP + maxInstance; c.BasePort < 1024 || last > 65535 {
		errs = append(errs, fmt.Errorf("--base-port %d: must be between 1024 and %d (the grid uses ports up to base+%d)", c.BasePort, 65535-offHTTP-maxInstance, offHTTP+maxInstance))
	}
	if ip := net.ParseIP(c.Bind); ip == nil || !ip.IsLoopback() {
		errs = append(errs, fmt.Errorf("--bind %q: the local grid listens on loopback only; use an address in 127.0.0.0/8 or ::1", c.Bind))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: must be positive", c.Timeout))
	}
	return errors.Join(errs...)
}

// Instance is one data process of the local grid.
type Instance struct {
	Partition, Instance int
	RESP, HTTP          string // host:port
}

// Layout is where every process of the grid listens.
type Layout struct {
	EtcdClient, EtcdPeer, API string
	Instances                 []Instance
}

// NewLayout computes the ports of cfg's grid: instance k (partition-major, instance
// minor) gets RESP base+10+k and HTTP base+1010+k.
func NewLayout(cfg Config) Layout {
	at := func(off int) string { return net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.BasePort+off)) }
	l := Layout{EtcdClient: at(offClient), EtcdPeer: at(offPeer), API: at(offAPI)}
	per := 1
	if cfg.HA {
		per = 2
	}
	for p := range cfg.Partitions {
		for i := range per {
			k := p*per + i
			l.Instances = append(l.Instances, Instance{Partition: p, Instance: i, RESP: at(offRESP + k), HTTP: at(offHTTP + k)})
		}
	}
	return l
}

type proc struct {
	name   string
	cmd    *exec.Cmd
	health string // URL polled for readiness
	exited chan struct{}
	err    error
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

// Run starts the grid, prints its addresses and "ready" once every process is ready, and
// stops everything when ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	dir := cfg.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "insight-grid-local-")
		if err != nil {
			return fmt.Errorf("creating a data directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	layout := NewLayout(cfg)
	spawnCtx, stopSpawner := context.WithCancel(context.Background())
	defer stopSpawner()
	sp := newSpawner(spawnCtx)

	common := []string{"--bind", cfg.Bind, "--log-level", cfg.LogLevel, "--log-format", cfg.LogFormat}
	managerArgs := append([]string{"manager",
		"--name", "local-manager", "--data-dir", dir, "--advertise-host", cfg.Bind,
		"--client-port", port(layout.EtcdClient), "--peer-port", port(layout.EtcdPeer), "--http-port", port(layout.API),
		"--partitions", strconv.Itoa(cfg.Partitions), "--ha=" + strconv.FormatBool(cfg.HA),
		// Loopback has no network delay: short raft timings make the member lead at once.
		"--etcd-heartbeat", "20ms", "--etcd-election", "200ms",
	}, common...)
	var procs []*proc
	defer func() { stopAll(procs, cfg.Stderr) }()
	start := func(name, health string, args []string) error {
		cmd := exec.Command(cfg.Exe, args...)
		cmd.Env = childEnv()
		cmd.Stdout, cmd.Stderr = cfg.Stderr, cfg.Stderr
		// Own process group: a Ctrl-C on the terminal reaches only this process, which
		// stops the children in order (data instances deregister while etcd still runs).
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		if err := sp.start(cmd); err != nil {
			return fmt.Errorf("starting %s (%s): %w", name, cfg.Exe, err)
		}
		p := &proc{name: name, cmd: cmd, health: health, exited: make(chan struct{})}
		go func() { p.err = cmd.Wait(); close(p.exited) }()
		procs = append(procs, p)
		return nil
	}
	if err := start("manager", "http://"+layout.API+"/readyz", managerArgs); err != nil {
		return err
	}
	for _, in := range layout.Instances {
		args := append([]string{"data",
			"--partition", strconv.Itoa(in.Partition), "--instance", strconv.Itoa(in.Instance),
			"--etcd-endpoints", layout.EtcdClient, "--advertise-host", cfg.Bind,
			"--port", port(in.RESP), "--http-port", port(in.HTTP),
			"--lease-ttl", "2s",
		}, common...)
		if cfg.RequirePass != "" {
			args = append(args, "--requirepass", cfg.RequirePass)
		}
		if err := start(fmt.Sprintf("p%d-i%d", in.Partition, in.Instance), "http://"+in.HTTP+"/readyz", args); err != nil {
			return err
		}
	}
	if err := waitReady(ctx, procs, cfg.Timeout); err != nil {
		return err
	}
	w := cfg.Stdout
	fmt.Fprintf(w, "insight-grid local: %d partitions, ha=%v, data in %s\n", cfg.Partitions, cfg.HA, dir)
	fmt.Fprintf(w, "  %-8s pid %-7d etcd %s  api http://%s\n", "manager", procs[0].cmd.Process.Pid, layout.EtcdClient, layout.API)
	for i, in := range layout.Instances {
		fmt.Fprintf(w, "  p%d-i%d    pid %-7d resp %s  http %s\n", in.Partition, in.Instance, procs[i+1].cmd.Process.Pid, in.RESP, in.HTTP)
	}
	fmt.Fprintf(w, "seed %s\n", layout.Instances[0].RESP)
	fmt.Fprintf(w, "manager http://%s\n", layout.API)
	fmt.Fprintln(w, "ready")

	// A child that dies stays dead (as a pod would until restarted); the grid keeps running
	// so failure handling can be observed.
	for _, p := range procs {
		go func() {
			select {
			case <-p.exited:
				if ctx.Err() == nil {
					fmt.Fprintf(cfg.Stderr, "insight-grid local: %s (pid %d) exited: %v\n", p.name, p.cmd.Process.Pid, p.err)
				}
			case <-ctx.Done():
			}
		}()
	}
	<-ctx.Done()
	return nil
}

func port(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

// waitReady polls every process's readiness URL until all answer 200, a process exits,
// or the timeout passes.
func waitReady(ctx context.Context, procs []*proc, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	ready := make([]bool, len(procs))
	for {
		n := 0
		for i, p := range procs {
			select {
			case <-p.exited:
				return fmt.Errorf("%s exited before it was ready: %v", p.name, p.err)
			default:
			}
			if !ready[i] {
				ready[i] = get(ctx, hc, p.health)
			}
			if ready[i] {
				n++
			}
		}
		if n == len(procs) {
			return nil
		}
		select {
		case <-ctx.Done():
			var waiting []string
			for i, p := range procs {
				if !ready[i] {
					waiting = append(waiting, p.name)
				}
			}
			return fmt.Errorf("grid not ready after %s, waiting for %s: %w", timeout, strings.Join(waiting, ", "), ctx.Err())
		case <-tick.C:
		}
	}
}

func get(ctx context.Context, hc *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stopAll sends SIGTERM to every live child, data instances first so they deregister
// while the manager still runs, then the manager; SIGKILL for any still alive after 10s.
func stopAll(procs []*proc, logw io.Writer) {
	order := make([]*proc, 0, len(procs))
	for i := len(procs) - 1; i >= 0; i-- {
		order = append(order, procs[i])
	}
	for _, group := range [][]*proc{order[:max(len(order)-1, 0)], order[max(len(order)-1, 0):]} {
		for _, p := range group {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		deadline := time.Now().Add(10 * time.Second)
		for _, p := range group {
			select {
			case <-p.exited:
			case <-time.After(time.Until(deadline)):
				fmt.Fprintf(logw, "insight-grid local: %s (pid %d) did not stop in 10s, killing it\n", p.name, p.cmd.Process.Pid)
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		}
	}
}
