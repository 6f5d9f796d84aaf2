package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/e2e/gridbin"
	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/check"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/slots"

	"github.com/insightgrid/insight/grid/internal/ports"
	"github.com/insightgrid/insight/grid/local"
)

// The binary every test starts, built once by TestMain.
var (
	bin             string
	buildErr        error
	dataReplTimeout bool // the data role has --repl-timeout
)

const (
	// leaseTTL is every data instance's --lease-ttl in these tests (local's default).
	leaseTTL = 2 * time.Second
	// restartDelay is local's --restart-delay in these tests.
	restartDelay = 500 * time.Millisecond
	// maxWriteGap is the longest a partition may go without an acknowledged write after
	// its primary is killed (writes resume in well under 2 s).
	maxWriteGap = 2 * time.Second
)

func TestMain(m *testing.M) {
	flag.Parse()
	redis.SetLogger(quietLogger{}) // dial failures to killed nodes are expected here
	os.Exit(runMain(m))
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func runMain(m *testing.M) int {
	if testing.Short() {
		return m.Run()
	}
	start := time.Now()
	dir, cleanup, err := gridbin.Build(gridbin.Grid)
	if err != nil {
		buildErr = err
		return m.Run()
	}
	defer cleanup()
	bin = filepath.Join(dir, gridbin.Grid)
	usage, _ := exec.Command(bin, "data", "-h").CombinedOutput()
	dataReplTimeout = regexp.MustCompile(`(?m)^\s*-repl-timeout\s`).Match(usage)
	fmt.Fprintf(os.Stderr, "chaos: insight-grid built in %s (data --repl-timeout: %v)\n", time.Since(start).Round(time.Millisecond), dataReplTimeout)
	return m.Run()
}

// needBinary skips t under -short or when the binary could not be built.
func needBinary(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("chaos tests start a real grid and inject faults; skipped with -short")
	}
	if buildErr != nil {
		t.Skipf("cannot build insight-grid, skipping the chaos tests: %v", buildErr)
	}
}

// testCtx is t's overall deadline; every wait inside has its own, shorter one.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// artifactDir is where failure artifacts go: $INSIGHT_CHAOS_ARTIFACTS (kept after the
// run) or the test's temporary directory.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("INSIGHT_CHAOS_ARTIFACTS"); d != "" {
		d = filepath.Join(d, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(d, 0o755); err == nil {
			return d
		}
	}
	return t.TempDir()
}

// ---------------------------------------------------------------------------------------
// Logs: every process's stderr goes to one file; the lines the checks need are parsed as
// they arrive.

// logEvent is a replication log line of a data instance.
type logEvent struct {
	At        time.Time
	Msg       string
	Instance  string
	Partition int
	Epoch     int64
}

func (e logEvent) String() string {
	return fmt.Sprintf("%s %s p%d epoch %d %q", clock(e.At), e.Instance, e.Partition, e.Epoch, e.Msg)
}

// restartEvent is local's line for a restarted data instance.
type restartEvent struct {
	At   time.Time
	Name string
	Pid  int
}

// watchedMsgs are the log messages recorded as events (docs/CONTRACTS.md).
var watchedMsgs = map[string]bool{
	"serving as primary": true, "promoted": true, "handover done": true,
	"backup out of sync": true, "backup in sync": true,
}

var restartLine = regexp.MustCompile(`^insight-grid local: (p\d+-i\d+) restarted \(pid (\d+)`)

type logWatch struct {
	path string

	mu        sync.Mutex
	f         *os.File
	events    []logEvent
	restarts  []restartEvent
	pids      map[string]int // newest known pid per process name
	onRestart func(restartEvent)
}

func newLogWatch(path string) (*logWatch, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &logWatch{path: path, f: f, pids: map[string]int{}}, nil
}

// line records one complete line (without its newline).
func (lw *logWatch) line(b []byte) {
	now := time.Now()
	lw.mu.Lock()
	_, _ = lw.f.Write(append(b, '\n'))
	var hook func(restartEvent)
	var ev restartEvent
	if m := restartLine.FindSubmatch(b); m != nil {
		pid, _ := strconv.Atoi(string(m[2]))
		ev = restartEvent{At: now, Name: string(m[1]), Pid: pid}
		lw.restarts = append(lw.restarts, ev)
		lw.pids[ev.Name] = pid
		hook = lw.onRestart
	} else if len(b) > 0 && b[0] == '{' && bytes.Contains(b, []byte(`"msg"`)) {
		var l struct {
			Msg       string `json:"msg"`
			Instance  string `json:"instance"`
			Partition int    `json:"partition"`
			Epoch     int64  `json:"epoch"`
		}
		if json.Unmarshal(b, &l) == nil && watchedMsgs[l.Msg] {
			lw.events = append(lw.events, logEvent{At: now, Msg: l.Msg, Instance: l.Instance, Partition: l.Partition, Epoch: l.Epoch})
		}
	}
	lw.mu.Unlock()
	if hook != nil {
		hook(ev)
	}
}

// consume reads lines from r until it ends.
func (lw *logWatch) consume(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		lw.line(sc.Bytes())
	}
}

// writer is an io.Writer for one process's output: it hands complete lines on, so the
// lines of processes writing at the same time never mix.
func (lw *logWatch) writer() io.WriteCloser {
	pr, pw := io.Pipe()
	go lw.consume(pr)
	return pw
}

func (lw *logWatch) setOnRestart(fn func(restartEvent)) {
	lw.mu.Lock()
	lw.onRestart = fn
	lw.mu.Unlock()
}

func (lw *logWatch) Events() []logEvent {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return slices.Clone(lw.events)
}

func (lw *logWatch) Restarts() []restartEvent {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return slices.Clone(lw.restarts)
}

func (lw *logWatch) pid(name string) int {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.pids[name]
}

func (lw *logWatch) setPid(name string, pid int) {
	lw.mu.Lock()
	lw.pids[name] = pid
	lw.mu.Unlock()
}

// tail is the last n lines of the log, each cut to 600 bytes.
func (lw *logWatch) tail(n int) string {
	lw.mu.Lock()
	_ = lw.f.Sync()
	lw.mu.Unlock()
	b, err := os.ReadFile(lw.path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 600 {
			lines[i] = l[:600] + "..."
		}
	}
	return strings.Join(lines, "\n")
}

func (lw *logWatch) close() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.f.Close()
}

// ---------------------------------------------------------------------------------------
// The grid.

// Status is a data instance's GET /v1/status.
type Status = cluster.InstanceStatus

// Partition is the manager's GET /v1/partitions/{id}, printed compactly.
type Partition struct{ api.Partition }

func (p Partition) String() string {
	var in []string
	for _, i := range p.Instances {
		keys := int64(-1)
		if i.Keys != nil {
			keys = *i.Keys
		}
		in = append(in, fmt.Sprintf("%s(%s ready=%v keys=%d)", i.ID, i.Role, i.Ready, keys))
	}
	return fmt.Sprintf("p%d epoch %d primary %q backup %q inSync=%v [%s]", p.ID, p.Epoch, p.Primary, p.Backup, p.InSync, strings.Join(in, " "))
}

type instAddr struct{ RESP, HTTP string }

// Grid is one running grid and the means to observe and hurt it.
type Grid struct {
	api  string              // http://host:port of the manager
	base int                 // local's --base-port (0 for a grid not started by local)
	inst map[string]instAddr // by instance name, "p0-i1"
	lw   *logWatch
	hc   *http.Client
	part [slots.Count]int // slot -> partition, from the manager at start

	mu     sync.Mutex
	frozen map[int]bool // pids stopped with SIGSTOP, continued before the grid stops

	// token is the operator token local made ("" for a grid not started by local):
	// every POST to the manager presents it.
	token string
}

// post sends a change to the manager's url with the operator token.
func (g *Grid) post(ctx context.Context, url string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return nil, err
	}
	if g.token != "" {
		req.Header.Set(api.TokenHeader, g.token)
	}
	return req, nil
}

func newGrid(t *testing.T) (*Grid, error) {
	lw, err := newLogWatch(filepath.Join(t.TempDir(), "grid.log"))
	if err != nil {
		return nil, err
	}
	g := &Grid{inst: map[string]instAddr{}, lw: lw, hc: &http.Client{Timeout: time.Second}, frozen: map[int]bool{}}
	// Registered first, so it runs last: after the grid stopped, with the whole log.
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("INSIGHT_CHAOS_ARTIFACTS") != "" {
			dst := filepath.Join(artifactDir(t), "grid.log")
			if b, err := os.ReadFile(lw.path); err == nil {
				_ = os.WriteFile(dst, b, 0o644)
			}
			if t.Failed() {
				t.Logf("grid log (%s), last 150 lines:\n%s", dst, lw.tail(150))
			}
		}
		lw.close()
	})
	return g, nil
}

// startLocal starts `insight-grid local --partitions 2 --ha` (startLocalN with 2).
func startLocal(t *testing.T) *Grid {
	t.Helper()
	return startLocalN(t, 2)
}

// startLocalN starts `insight-grid local --partitions N --ha` on free loopback ports and
// waits until it prints "ready". The grid is stopped when t ends.
func startLocalN(t *testing.T, partitions int) *Grid {
	t.Helper()
	return startLocalGrowing(t, partitions, partitions)
}

// startLocalGrowing is startLocalN with the ports of growTo partitions free, for a grid
// that re-partitions to more.
func startLocalGrowing(t *testing.T, partitions, growTo int) *Grid {
	t.Helper()
	needBinary(t)
	g, err := newGrid(t)
	if err != nil {
		t.Fatal(err)
	}
	offsets := local.PortOffsets(2 * max(partitions, growTo))
	start := time.Now()
	for attempt := 1; ; attempt++ {
		base, err := ports.FreeBase("127.0.0.1", offsets, local.MaxBasePort)
		if err != nil {
			t.Fatal(err)
		}
		err = g.launchLocal(t, base, partitions)
		if err == nil {
			break
		}
		// A port found free can be taken before local binds it (by any process's
		// outgoing connection): try other ports.
		if attempt == 3 || !strings.Contains(g.lw.tail(20), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("%v: a port of base %d was taken meanwhile; trying other ports", err, base)
	}
	if err := g.loadSlots(); err != nil {
		t.Fatal(err)
	}
	t.Logf("grid of %d partitions ready in %s: base port %d, manager %s, log %s",
		partitions, time.Since(start).Round(time.Millisecond), g.base, g.api, g.lw.path)
	return g
}

// launchLocal starts local with partitions HA partitions on base and waits for "ready";
// local is stopped when t ends.
func (g *Grid) launchLocal(t *testing.T, base, partitions int) error {
	args := []string{"local", "--partitions", strconv.Itoa(partitions), "--ha", "--log-format", "json", "--log-level", "info",
		"--base-port", strconv.Itoa(base), "--restart-delay", restartDelay.String(), "--lease-ttl", leaseTTL.String(),
		"--timeout", "60s"}
	cmd := exec.Command(bin, args...)
	// local dies with the test binary; its children die with local (their Pdeathsig).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", strings.Join(cmd.Args, " "), err)
	}
	logDone := make(chan struct{})
	go func() { g.lw.consume(stderr); close(logDone) }()
	exited := make(chan struct{})
	ready := make(chan error, 1)
	var api, tokenFile string
	go func() {
		sc := bufio.NewScanner(stdout)
		pidLine := regexp.MustCompile(`^\s+(manager|p\d+-i\d+)\s+pid (\d+)`)
		for sc.Scan() {
			line := sc.Text()
			if m := pidLine.FindStringSubmatch(line); m != nil {
				pid, _ := strconv.Atoi(m[2])
				g.lw.setPid(m[1], pid)
			}
			switch {
			case strings.HasPrefix(line, "manager "):
				api = strings.TrimPrefix(line, "manager ")
			case strings.HasPrefix(line, "operator-token-file "):
				tokenFile = strings.TrimPrefix(line, "operator-token-file ")
			case line == "ready":
				select {
				case ready <- nil:
				default:
				}
			}
		}
		select { // after "ready", or after launchLocal gave up waiting: nobody reads it
		case ready <- errors.New("insight-grid local exited before it was ready"):
		default:
		}
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		g.thaw()
		stopLocal(t, cmd, exited)
		select {
		case <-logDone:
		case <-time.After(5 * time.Second):
		}
	})
	select {
	case err := <-ready:
		if err != nil {
			<-exited
			return err
		}
	case <-time.After(60 * time.Second):
		return errors.New("insight-grid local was not ready in 60s")
	}
	g.api = api
	g.base = base
	if tokenFile != "" {
		tok, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("reading the operator token local printed: %w", err)
		}
		g.token = strings.TrimSpace(string(tok))
	}
	for p := range partitions {
		g.addPartitionAddrs(p)
	}
	return nil
}

// stopLocal stops local with SIGTERM, and kills it if it has not exited (closed exited)
// 30 s later.
func stopLocal(t *testing.T, cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Errorf("insight-grid local did not stop in 30s after SIGTERM; killing it")
		_ = cmd.Process.Kill()
		<-exited
	}
}

// addPartitionAddrs adds partition p's instances, in local's layout, to the grid's
// instances (for partitions a re-partitioning adds).
func (g *Grid) addPartitionAddrs(p int) {
	for i := range 2 {
		k := 2*p + i
		g.inst[fmt.Sprintf("p%d-i%d", p, i)] = instAddr{
			RESP: fmt.Sprintf("127.0.0.1:%d", g.base+10+k), HTTP: fmt.Sprintf("127.0.0.1:%d", g.base+1010+k)}
	}
}

// loadSlots reads the partition map from the manager.
func (g *Grid) loadSlots() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var list struct{ Partitions []Partition }
	if err := g.getJSON(ctx, g.api+"/v1/partitions", &list); err != nil {
		return fmt.Errorf("reading the partition map: %w", err)
	}
	for i := range g.part {
		g.part[i] = -1
	}
	for _, p := range list.Partitions {
		for _, r := range p.Slots {
			for s := r[0]; s <= r[1]; s++ {
				g.part[s] = p.ID
			}
		}
	}
	for s, p := range g.part {
		if p < 0 {
			return fmt.Errorf("slot %d has no partition in %+v", s, list.Partitions)
		}
	}
	return nil
}

// partitionOf is the partition holding key.
func (g *Grid) partitionOf(key string) int { return g.part[slots.OfString(key)] }

func (g *Grid) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w in %s", url, err, body)
	}
	return nil
}

// Partition is the manager's view of partition p.
func (g *Grid) Partition(ctx context.Context, p int) (Partition, error) {
	var out Partition
	err := g.getJSON(ctx, fmt.Sprintf("%s/v1/partitions/%d", g.api, p), &out)
	return out, err
}

// Status is instance name's own GET /v1/status.
func (g *Grid) Status(ctx context.Context, name string) (Status, error) {
	var st Status
	a, ok := g.inst[name]
	if !ok {
		return st, fmt.Errorf("no instance %q", name)
	}
	err := g.getJSON(ctx, "http://"+a.HTTP+"/v1/status", &st)
	return st, err
}

// Pid is the pid of the process serving instance name now: from its /v1/status, else
// from what local printed (its summary and restart lines).
func (g *Grid) Pid(ctx context.Context, name string) (int, error) {
	if st, err := g.Status(ctx, name); err == nil && st.PID > 0 {
		return st.PID, nil
	}
	if pid := g.lw.pid(name); pid > 0 {
		return pid, nil
	}
	return 0, fmt.Errorf("no pid known for %s", name)
}

// signal sends sig to pid and waits until it took effect: a signal is delivered
// asynchronously, and a process keeps running (serving, acknowledging) for a while after
// kill(2) returned — tens of milliseconds on a busy machine. SIGKILL waits until the
// process is gone (or a zombie), SIGSTOP until every thread is stopped, SIGCONT until
// none is. Stopped processes are tracked so they are continued before the grid stops.
func (g *Grid) signal(pid int, sig syscall.Signal) error {
	g.mu.Lock()
	switch sig {
	case syscall.SIGSTOP:
		g.frozen[pid] = true
	case syscall.SIGCONT, syscall.SIGKILL:
		delete(g.frozen, pid)
	}
	g.mu.Unlock()
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("kill -%d %d: %w", sig, pid, err)
	}
	done := func(states []byte) bool {
		switch sig {
		case syscall.SIGKILL:
			return len(states) == 0 || !bytes.ContainsFunc(states, func(r rune) bool { return r != 'Z' && r != 'X' })
		case syscall.SIGSTOP:
			return len(states) > 0 && !bytes.ContainsFunc(states, func(r rune) bool { return r != 'T' && r != 't' })
		case syscall.SIGCONT:
			return !bytes.ContainsAny(states, "Tt")
		}
		return true
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		states := threadStates(pid)
		if done(states) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill -%d %d: threads still in states %q after 5s", sig, pid, states)
		}
		time.Sleep(time.Millisecond)
	}
}

// threadStates is the state letter (R, S, D, T, t, Z, X...) of each thread of pid, from
// /proc; empty when the process is gone.
func threadStates(pid int) []byte {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var states []byte
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			continue // the thread ended
		}
		// "tid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
			states = append(states, b[i+2])
		}
	}
	return states
}

func (g *Grid) thaw() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for pid := range g.frozen {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	clear(g.frozen)
}

// waitFor polls cond every 50ms until it holds, or fails after d (or when ctx ends)
// naming what it waited for and the last observation.
func waitFor(ctx context.Context, d time.Duration, what string, cond func(ctx context.Context) (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	last := ""
	for {
		ok, detail := cond(ctx)
		if ok {
			return nil
		}
		if detail != "" && ctx.Err() == nil { // not the deadline's own error
			last = detail
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not after %s; last seen: %s", what, time.Since(start).Round(time.Millisecond), last)
		case <-tick.C:
		}
	}
}

// waitHealthy waits until partition p has a primary and an in-sync backup, both ready.
func (g *Grid) waitHealthy(ctx context.Context, p int, d time.Duration) (Partition, error) {
	var got Partition
	err := waitFor(ctx, d, fmt.Sprintf("partition %d with a primary and an in-sync backup, both ready", p), func(ctx context.Context) (bool, string) {
		pt, err := g.Partition(ctx, p)
		if err != nil {
			return false, err.Error()
		}
		got = pt
		if pt.Primary == "" || pt.Backup == "" || !pt.InSync || len(pt.Instances) != 2 {
			return false, pt.String()
		}
		for _, in := range pt.Instances {
			if !in.Ready {
				return false, pt.String()
			}
		}
		return true, ""
	})
	return got, err
}

// client is a ClusterClient knowing every instance as a seed, with short timeouts so
// a dead or stopped node costs little, and a frequent state reload (go-redis reloads
// on MOVED, but not when a node just stops answering).
func (g *Grid) client(t *testing.T) *redis.ClusterClient {
	c := redis.NewClusterClient(g.clientOptions())
	t.Cleanup(func() { c.Close() })
	return c
}

func (g *Grid) clientOptions() *redis.ClusterOptions {
	var addrs []string
	for _, a := range g.inst {
		addrs = append(addrs, a.RESP)
	}
	sort.Strings(addrs)
	return check.ClusterOptions(addrs, "", 4)
}

// ---------------------------------------------------------------------------------------
// Load: writers of unique keys, each acknowledged write recorded.

type ack struct {
	Key, Val  string
	Part      int
	Call, Ret time.Time
}

type writers struct {
	mu     sync.Mutex
	acks   []ack
	errs   map[int]int // failed writes per partition
	sample []string    // the first distinct errors
	start  time.Time
	end    time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startWriters starts n writers, each with its own ClusterClient, writing unique keys
// chaos:<prefix><writer>:<n> continuously (at most one a millisecond each); only >= 0
// restricts them to that partition.
func (g *Grid) startWriters(ctx context.Context, t *testing.T, n int, prefix string, only int) *writers {
	return g.startPacedWriters(ctx, t, n, prefix, only, time.Millisecond)
}

// startPacedWriters is startWriters with at most one write per pace per writer.
func (g *Grid) startPacedWriters(ctx context.Context, t *testing.T, n int, prefix string, only int, every time.Duration) *writers {
	ctx, cancel := context.WithCancel(ctx)
	w := &writers{errs: map[int]int{}, start: time.Now(), cancel: cancel}
	for id := range n {
		c := g.client(t)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			// Paced so the load does not starve the grid's own timers on a small machine.
			pace := time.NewTicker(every)
			defer pace.Stop()
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("chaos:%s%d:%d", prefix, id, i)
				part := g.partitionOf(key)
				if only >= 0 && part != only {
					continue
				}
				select {
				case <-ctx.Done():
					return
				case <-pace.C:
				}
				val := fmt.Sprintf("v%d-%d-%x", id, i, rand.Uint32())
				call := time.Now()
				err := c.Set(ctx, key, val, 0).Err()
				ret := time.Now()
				if ctx.Err() != nil {
					return // cut short by stop: unknown outcome, not recorded
				}
				w.mu.Lock()
				if err == nil {
					w.acks = append(w.acks, ack{Key: key, Val: val, Part: part, Call: call, Ret: ret})
				} else {
					w.errs[part]++
					if len(w.sample) < 8 && !slices.Contains(w.sample, err.Error()) {
						w.sample = append(w.sample, err.Error())
					}
				}
				w.mu.Unlock()
			}
		}()
	}
	return w
}

func (w *writers) stop() {
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	w.end = time.Now()
	w.mu.Unlock()
}

// count is the number of acknowledged writes to part.
func (w *writers) count(part int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, a := range w.acks {
		if a.Part == part {
			n++
		}
	}
	return n
}

// ackedAfter is the number of acknowledged writes to part that were sent after t.
func (w *writers) ackedAfter(part int, t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, a := range w.acks {
		if a.Part == part && a.Call.After(t) {
			n++
		}
	}
	return n
}

// gapIn is the longest interval in [from, to] without an acknowledged write to part.
func (w *writers) gapIn(part int, from, to time.Time) time.Duration {
	gap, _ := w.gapInFrom(part, from, to)
	return gap
}

// gapInFrom is gapIn and when that interval began; part -1 means any partition.
func (w *writers) gapInFrom(part int, from, to time.Time) (time.Duration, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rets := []time.Time{from}
	for _, a := range w.acks {
		if (part < 0 || a.Part == part) && a.Ret.After(from) && a.Ret.Before(to) {
			rets = append(rets, a.Ret)
		}
	}
	slices.SortFunc(rets, func(a, b time.Time) int { return a.Compare(b) })
	rets = append(rets, to)
	var longest time.Duration
	began := from
	for i := 1; i < len(rets); i++ {
		if d := rets[i].Sub(rets[i-1]); d > longest {
			longest, began = d, rets[i-1]
		}
	}
	return longest, began
}

// countIn is the number of acknowledged writes to part sent and acknowledged in [from, to].
func (w *writers) countIn(part int, from, to time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, a := range w.acks {
		if a.Part == part && !a.Call.Before(from) && !a.Ret.After(to) {
			n++
		}
	}
	return n
}

func (w *writers) all() []ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acks)
}

// gap is the longest interval without an acknowledged write to part, between its first
// acknowledged write and the writers' stop, and when it began.
func (w *writers) gap(part int) (time.Duration, time.Time) {
	w.mu.Lock()
	var first time.Time
	for _, a := range w.acks {
		if a.Part == part && (first.IsZero() || a.Ret.Before(first)) {
			first = a.Ret
		}
	}
	start, end := w.start, w.end
	w.mu.Unlock()
	if first.IsZero() {
		return end.Sub(start), start
	}
	return w.gapInFrom(part, first, end)
}

func (w *writers) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	per := map[int]int{}
	for _, a := range w.acks {
		per[a.Part]++
	}
	return fmt.Sprintf("%d acknowledged writes (per partition %v) and %v failed ones in %s; errors seen: %q",
		len(w.acks), per, w.errs, w.end.Sub(w.start).Round(time.Millisecond), w.sample)
}

// verifyAcks checks that every acknowledged write is readable with its value, retrying
// batches that meet errors (a partition may still be settling) until d passes.
func (g *Grid) verifyAcks(ctx context.Context, t *testing.T, acks []ack, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	c := g.client(t)
	var lost, wrong []string
	nLost, nWrong := 0, 0
	const batch = 500
	for i := 0; i < len(acks); i += batch {
		part := acks[i:min(i+batch, len(acks))]
		for {
			cmds, _ := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, a := range part {
					p.Get(ctx, a.Key)
				}
				return nil
			})
			var retry error
			for _, cmd := range cmds {
				if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
					retry = err
					break
				}
			}
			if retry != nil {
				if ctx.Err() != nil {
					t.Errorf("verifying acknowledged writes: %v (last error %v); %d of %d checked", ctx.Err(), retry, i, len(acks))
					return
				}
				time.Sleep(50 * time.Millisecond) // the partition is settling: read again
				continue
			}
			for j, cmd := range cmds {
				a := part[j]
				v, err := cmd.(*redis.StringCmd).Result()
				switch {
				case errors.Is(err, redis.Nil):
					nLost++
					if len(lost) < 20 {
						lost = append(lost, fmt.Sprintf("%s (p%d, acked at %s)", a.Key, a.Part, clock(a.Ret)))
					}
				case v != a.Val:
					nWrong++
					if len(wrong) < 20 {
						wrong = append(wrong, fmt.Sprintf("%s = %q, acknowledged %q at %s", a.Key, v, a.Val, clock(a.Ret)))
					}
				}
			}
			break
		}
	}
	if nLost > 0 {
		t.Errorf("%d of %d acknowledged writes are lost, e.g.:\n  %s", nLost, len(acks), strings.Join(lost, "\n  "))
	}
	if nWrong > 0 {
		t.Errorf("%d of %d acknowledged writes read back another value, e.g.:\n  %s", nWrong, len(acks), strings.Join(wrong, "\n  "))
	}
	if nLost == 0 && nWrong == 0 {
		t.Logf("all %d acknowledged writes read back with their values", len(acks))
	}
}

// ---------------------------------------------------------------------------------------
// Linearizability: a few registers, random SET/GET, checked with porcupine.

type regInput struct {
	Set      bool
	Key, Val string
}

type regOutput struct {
	Val string // GET's value, "" for nil
}

// registerModel is a key-value register per key; a missing key reads "".
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(regInput).Key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		if in.Set {
			return true, in.Val
		}
		return output.(regOutput).Val == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.Set {
			return fmt.Sprintf("set(%s, %q)", in.Key, in.Val)
		}
		return fmt.Sprintf("get(%s) -> %q", in.Key, output.(regOutput).Val)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

type registers struct {
	start   time.Time
	mu      sync.Mutex
	ops     []porcupine.Operation
	pending []int // indexes of writes with an unknown outcome
	dropped int   // reads that failed
	refused int   // writes refused before they ran
	nextID  int
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// registerKeys picks perPart[p] register keys in each partition p.
func (g *Grid) registerKeys(perPart map[int]int) []string {
	var keys []string
	left := maps(perPart)
	for i := 0; len(left) > 0; i++ {
		k := fmt.Sprintf("chaos:reg:%d", i)
		p := g.partitionOf(k)
		if left[p] > 0 {
			keys = append(keys, k)
			if left[p]--; left[p] == 0 {
				delete(left, p)
			}
		}
	}
	return keys
}

func maps(m map[int]int) map[int]int {
	out := make(map[int]int, len(m))
	for k, v := range m {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

// notExecuted reports whether err says the command was refused before it ran (a
// redirect, TRYAGAIN, CLUSTERDOWN, or no connection at all), so trying it again cannot
// execute it twice.
func notExecuted(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	s := err.Error()
	for _, p := range []string{"MOVED ", "ASK ", "TRYAGAIN ", "CLUSTERDOWN "} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// registerClient is a ClusterClient that sends each command once (go-redis retries a
// command after a timeout or a dropped connection, which may execute a write twice and
// make a correct history look non-linearizable); do retries what was refused unexecuted.
func (g *Grid) registerClient(t *testing.T) *redis.ClusterClient {
	opt := g.clientOptions()
	opt.MaxRedirects = -1 // one attempt; node clients of a ClusterClient never retry
	c := redis.NewClusterClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// do runs f until it succeeds, fails in a way that may have executed it (or cannot be
// told apart), or has been refused unexecuted for 2s. executed is false only when every
// attempt was refused unexecuted.
func do(ctx context.Context, f func() error) (executed bool, err error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err = f()
		if err == nil || errors.Is(err, redis.Nil) || !notExecuted(err) {
			return true, err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// startRegisters runs clients doing random SET (unique values) and GET on keys, about
// 150 operations a second each, recording the history. A write refused unexecuted is
// left out; one that failed otherwise has an unknown outcome.
func (g *Grid) startRegisters(ctx context.Context, t *testing.T, keys []string, clients int) *registers {
	ctx, cancel := context.WithCancel(ctx)
	r := &registers{start: time.Now(), cancel: cancel, nextID: clients}
	for cl := range clients {
		c := g.registerClient(t)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			id := cl
			rng := rand.New(rand.NewPCG(uint64(cl), uint64(time.Now().UnixNano())))
			pace := time.NewTicker(7 * time.Millisecond)
			defer pace.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-pace.C:
				}
				in := regInput{Key: keys[rng.IntN(len(keys))]}
				var out regOutput
				call := time.Since(r.start).Nanoseconds()
				var err error
				var executed bool
				if rng.IntN(2) == 0 {
					in.Set, in.Val = true, fmt.Sprintf("c%d-%d", cl, n)
					executed, err = do(ctx, func() error { return c.Set(ctx, in.Key, in.Val, 0).Err() })
				} else {
					executed, err = do(ctx, func() error {
						var err error
						out.Val, err = c.Get(ctx, in.Key).Result()
						return err
					})
					if errors.Is(err, redis.Nil) {
						out.Val, err = "", nil
					}
				}
				ret := time.Since(r.start).Nanoseconds()
				if err != nil && in.Set && !executed {
					r.mu.Lock()
					r.refused++
					r.mu.Unlock()
					continue // refused before it ran: not part of the history
				}
				if ctx.Err() != nil && err != nil {
					if in.Set { // cut short by stop: may or may not have happened
						r.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out}, true)
					}
					return
				}
				switch {
				case err == nil:
					r.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret}, false)
				case in.Set:
					// Unknown outcome: it may take effect at any time from now on. The client
					// continues under a new id, so each id's operations stay sequential.
					r.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out}, true)
					id = r.newID()
				default:
					r.mu.Lock()
					r.dropped++
					r.mu.Unlock()
				}
			}
		}()
	}
	return r
}

func (r *registers) add(op porcupine.Operation, pending bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pending {
		r.pending = append(r.pending, len(r.ops))
	}
	r.ops = append(r.ops, op)
}

func (r *registers) newID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	return r.nextID - 1
}

func (r *registers) stop() {
	r.cancel()
	r.wg.Wait()
}

// check runs porcupine over the history; writes of unknown outcome return at the end.
func (r *registers) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	ops := slices.Clone(r.ops)
	end := time.Since(r.start).Nanoseconds()
	for _, i := range r.pending {
		ops[i].Return = end
	}
	pending, dropped, refused := len(r.pending), r.dropped, r.refused
	r.mu.Unlock()
	if len(ops) == 0 {
		t.Errorf("linearizability: the register workload recorded no operation")
		return
	}
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(registerModel, ops, 60*time.Second)
	took := time.Since(start).Round(time.Millisecond)
	switch res {
	case porcupine.Ok:
		t.Logf("linearizability: ok, %d operations (%d writes of unknown outcome; %d failed reads and %d writes refused unexecuted left out), checked in %s",
			len(ops), pending, dropped, refused, took)
	case porcupine.Illegal:
		dir := artifactDir(t)
		path := filepath.Join(dir, "linearizability.html")
		if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
			t.Errorf("writing the porcupine visualization: %v", err)
		}
		t.Errorf("linearizability: the register history of %d operations (%d writes of unknown outcome) is NOT linearizable; visualization in %s", len(ops), pending, path)
		r.explain(t, ops, end, dir)
	default:
		t.Errorf("linearizability: porcupine gave no answer in %s over %d operations", took, len(ops))
	}
}

// explain finds the keys whose own history is not linearizable and writes each one's
// history, in call order with wall-clock times, to history-<key>.txt in dir.
func (r *registers) explain(t *testing.T, ops []porcupine.Operation, end int64, dir string) {
	t.Helper()
	for _, part := range registerModel.Partition(ops) {
		if porcupine.CheckOperationsTimeout(registerModel, part, 30*time.Second) != porcupine.Illegal {
			continue
		}
		key := part[0].Input.(regInput).Key
		slices.SortFunc(part, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
		var b strings.Builder
		at := func(ns int64) string { return clock(r.start.Add(time.Duration(ns))) }
		for _, op := range part {
			in := op.Input.(regInput)
			ret := at(op.Return)
			if op.Return == end {
				ret = "(unknown outcome)"
			}
			desc := fmt.Sprintf("get -> %q", op.Output.(regOutput).Val)
			if in.Set {
				desc = fmt.Sprintf("set %q", in.Val)
			}
			fmt.Fprintf(&b, "%s  %-18s client %-3d %s\n", at(op.Call), ret, op.ClientId, desc)
		}
		path := filepath.Join(dir, "history-"+strings.ReplaceAll(key, ":", "_")+".txt")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Errorf("writing %s: %v", path, err)
		}
		t.Errorf("linearizability: key %s's history is not linearizable (%d operations): %s", key, len(part), path)
	}
}

// ---------------------------------------------------------------------------------------
// Steps shared by the fault tests.

// requireHealthy waits up to 20s for partition p to have a primary and an in-sync backup,
// both ready, and fails t otherwise.
func (g *Grid) requireHealthy(ctx context.Context, t *testing.T, p int) Partition {
	t.Helper()
	pt, err := g.waitHealthy(ctx, p, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return pt
}

// waitAcked waits up to 15s for n acknowledged writes of w to partition part, and fails t
// otherwise.
func waitAcked(ctx context.Context, t *testing.T, w *writers, part, n int) {
	t.Helper()
	if err := waitFor(ctx, 15*time.Second, fmt.Sprintf("%d acknowledged writes to partition %d", n, part), func(context.Context) (bool, string) {
		c := w.count(part)
		return c >= n, fmt.Sprint(c)
	}); err != nil {
		t.Fatal(err)
	}
}

// startFaultLoad readies partition 0 for a fault of its primary: it waits for the partition
// to be healthy (requireHealthy), which it returns as before; starts the load — 6 writers to
// both partitions and 4 register clients on 3 keys of partition 0 and 1 of partition 1,
// stopped when t ends at the latest — and waits for 200 acknowledged writes to partition 0.
func (g *Grid) startFaultLoad(ctx context.Context, t *testing.T) (before Partition, w *writers, reg *registers) {
	t.Helper()
	before = g.requireHealthy(ctx, t, 0)
	w = g.startWriters(ctx, t, 6, "w", -1)
	reg = g.startRegisters(ctx, t, g.registerKeys(map[int]int{0: 3, 1: 1}), 4)
	t.Cleanup(w.stop)
	t.Cleanup(reg.stop)
	waitAcked(ctx, t, w, 0, 200)
	return before, w, reg
}

// signalInstance sends sig to the process serving instance name (see signal) and returns
// its pid; it fails t when either step does.
func (g *Grid) signalInstance(ctx context.Context, t *testing.T, name string, sig syscall.Signal) int {
	t.Helper()
	pid, err := g.Pid(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.signal(pid, sig); err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitRestarted waits up to 10s for local to restart instance name after after, fails t
// otherwise, and returns the new process's pid.
func (g *Grid) waitRestarted(ctx context.Context, t *testing.T, name string, after time.Time) int {
	t.Helper()
	var pid int
	if err := waitFor(ctx, 10*time.Second, "local restarting "+name, func(context.Context) (bool, string) {
		for _, r := range g.lw.Restarts() {
			if r.Name == name && r.At.After(after) {
				pid = r.Pid
				return true, ""
			}
		}
		return false, ""
	}); err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitResumed waits up to d for a write to partition 0 sent after the fault at faultAt
// (named by fault, e.g. "the kill") to be acknowledged, and logs how long that took; it
// fails t (and goes on) when none is.
func waitResumed(ctx context.Context, t *testing.T, w *writers, faultAt time.Time, d time.Duration, fault string) {
	t.Helper()
	if err := waitFor(ctx, d, "writes to partition 0 resuming after "+fault, func(context.Context) (bool, string) {
		return w.ackedAfter(0, faultAt) > 0, ""
	}); err != nil {
		t.Error(err)
	} else {
		t.Logf("writes to partition 0 resumed %s after %s", time.Since(faultAt).Round(time.Millisecond), fault)
	}
}

// stopFaultLoad lets the load of startFaultLoad run 2s more, stops it, and logs what the
// writers did and when partition 0 had a primary of an epoch after epoch.
func (g *Grid) stopFaultLoad(ctx context.Context, t *testing.T, w *writers, reg *registers, epoch int64, faultAt time.Time) {
	t.Helper()
	keepLoad(ctx, 2*time.Second)
	w.stop()
	reg.stop()
	t.Log(w.summary())
	g.logTakeover(t, 0, epoch, faultAt)
}

// checkAfterFault runs the checks every fault test ends with, once the load stopped:
// every write in acks reads back with its value, the register history is linearizable, no
// two instances served one epoch. It logs partition 0's write gap in w and returns it.
func (g *Grid) checkAfterFault(ctx context.Context, t *testing.T, acks []ack, reg *registers, w *writers) time.Duration {
	t.Helper()
	g.verifyAcks(ctx, t, acks, 20*time.Second)
	reg.check(t)
	g.checkSplitBrain(t)
	return logGap(t, w, 0)
}

// ---------------------------------------------------------------------------------------
// Checks shared by the fault tests.

// checkSplitBrain fails t if two instances logged "serving as primary" for one partition
// and epoch, and logs every replication event seen.
func (g *Grid) checkSplitBrain(t *testing.T) {
	t.Helper()
	type pe struct {
		p int
		e int64
	}
	who := map[pe][]string{}
	var lines []string
	for _, e := range g.lw.Events() {
		lines = append(lines, e.String())
		if e.Msg != "serving as primary" {
			continue
		}
		k := pe{e.Partition, e.Epoch}
		if !slices.Contains(who[k], e.Instance) {
			who[k] = append(who[k], e.Instance)
		}
	}
	t.Logf("replication events:\n  %s", strings.Join(lines, "\n  "))
	for k, ids := range who {
		if len(ids) > 1 {
			t.Errorf("split brain: %v all logged \"serving as primary\" for partition %d epoch %d", ids, k.p, k.e)
		}
	}
	if len(who) == 0 {
		t.Errorf("no instance logged \"serving as primary\": the split-brain check has nothing to check")
	}
}

// servedBy reports the instances that logged "serving as primary" for partition p in an
// epoch after epoch.
func (g *Grid) servedBy(p int, after int64) []string {
	var out []string
	for _, e := range g.lw.Events() {
		if e.Msg == "serving as primary" && e.Partition == p && e.Epoch > after && !slices.Contains(out, e.Instance) {
			out = append(out, e.Instance)
		}
	}
	return out
}

// takeover reports when an instance other than old first logged "serving as primary"
// of partition p in an epoch after epoch, and which.
func (g *Grid) takeover(p int, epoch int64) (string, time.Time, bool) {
	for _, e := range g.lw.Events() {
		if e.Msg == "serving as primary" && e.Partition == p && e.Epoch > epoch {
			return e.Instance, e.At, true
		}
	}
	return "", time.Time{}, false
}

// logTakeover logs how long after the fault at faultAt partition p had a new primary.
func (g *Grid) logTakeover(t *testing.T, p int, epoch int64, faultAt time.Time) {
	t.Helper()
	if who, at, ok := g.takeover(p, epoch); ok {
		t.Logf("%s serving as primary of partition %d %s after the fault", who, p, at.Sub(faultAt).Round(time.Millisecond))
	} else {
		t.Logf("no instance served partition %d in an epoch after %d", p, epoch)
	}
}

// clock formats t for the test log, to match the grid log's timestamps.
func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// logGap logs partition part's write gap in the fixed format `write gap: %s`.
func logGap(t *testing.T, w *writers, part int) time.Duration {
	t.Helper()
	gap, from := w.gap(part)
	t.Logf("write gap: %s", gap.Round(time.Millisecond))
	t.Logf("(partition %d, the longest interval without an acknowledged write, from %s)", part, clock(from))
	return gap
}

// firstEvent is the first log event with msg for partition p after t.
func (g *Grid) firstEvent(p int, after time.Time, msgs ...string) (logEvent, bool) {
	for _, e := range g.lw.Events() {
		if e.Partition == p && e.At.After(after) && slices.Contains(msgs, e.Msg) {
			return e, true
		}
	}
	return logEvent{}, false
}

// keepLoad lets the load run for d more (a duration of load, not a wait for a condition).
func keepLoad(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
