package itest

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sys/unix"

	"github.com/insightgrid/insight/e2e/gridbin"
	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/ports"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/local"
)

// bin is the insight-grid binary TestMain builds.
var bin string

func TestMain(m *testing.M) { gridbin.Main(m, &bin) }

// siteSpec is a site to start: its name, ports and data directory are chosen before any
// site starts, so each can name the others' gateway, CA and token files.
type siteSpec struct {
	name       string
	base       int
	dir        string
	partitions int
	ha         bool
	noWAN      bool // a plain grid: no --site, for the benchmark's anchor
	args       []string
	// netns is the network namespace the site runs in ("": the test's own), wanIP the
	// address there its gateway listens on for the other sites (--wan-bind); the test
	// reaches the site's loopback ports by dialing from inside netns (nsDial).
	netns, wanIP string
	// cpus, when set, is the CPU list (taskset's -c form) the site's processes are bound
	// to, so that two sites on one machine do not take each other's cores (the benchmark).
	cpus string
}

func (s *siteSpec) gateway() string {
	if s.wanIP != "" {
		return net.JoinHostPort(s.wanIP, strconv.Itoa(s.base+5))
	}
	return fmt.Sprintf("127.0.0.1:%d", s.base+5)
}

// httpClient is a client reaching the site's ports with TLS configuration tc: nil
// (http.DefaultClient) for a site in the test's own namespace without tc; a site in a
// namespace is dialed from inside it, one connection per request (callers make a client
// per call).
func (s *siteSpec) httpClient(tc *tls.Config) *http.Client {
	if s.netns == "" && tc == nil {
		return nil
	}
	tr := &http.Transport{TLSClientConfig: tc}
	if s.netns != "" {
		tr.DialContext, tr.DisableKeepAlives = nsDial(s.netns), true
	}
	return &http.Client{Transport: tr}
}

// site is a running site.
type site struct {
	*siteSpec
	cmd  *exec.Cmd
	pids map[string]int // the data instances' first processes, by pP-iI
	rdb  *redis.ClusterClient
	mgr  *api.Client
	log  string
	done chan struct{}
}

// specs picks free, disjoint port ranges and directories for the named sites.
func specs(t *testing.T, names ...string) []*siteSpec {
	t.Helper()
	offsets := local.PortOffsets(6)
	var out []*siteSpec
	for _, n := range names {
		for {
			b, err := ports.FreeBase("127.0.0.1", offsets, local.MaxBasePort)
			if err != nil {
				t.Fatal(err)
			}
			clash := false
			for _, o := range out {
				clash = clash || (b > o.base-2600 && b < o.base+2600)
			}
			if !clash {
				out = append(out, &siteSpec{name: n, base: b, dir: filepath.Join(t.TempDir(), n), partitions: 1})
				break
			}
		}
	}
	return out
}

// start runs s replicating to every other spec, until t ends.
func start(t *testing.T, s *siteSpec, all []*siteSpec) *site {
	t.Helper()
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"local", "--partitions", strconv.Itoa(s.partitions), "--base-port", strconv.Itoa(s.base),
		"--data-dir", s.dir, "--log-level", "info", "--timeout", "90s", "--restart-delay", "500ms", "--ha=" + strconv.FormatBool(s.ha)}
	if !s.noWAN {
		args = append(args, "--site", s.name)
	}
	for _, o := range all {
		if o.name == s.name || s.noWAN || o.noWAN {
			continue
		}
		args = append(args, "--wan-target", o.name+"="+o.gateway(),
			"--wan-target-ca", o.name+"="+filepath.Join(o.dir, "tls", "ca.crt"),
			"--wan-target-token-file", o.name+"="+filepath.Join(o.dir, "operator-token"))
	}
	if s.wanIP != "" {
		args = append(args, "--wan-bind", s.wanIP)
	}
	args = append(args, s.args...)
	if s.netns != "" {
		args = append([]string{"netns", "exec", s.netns, bin}, args...)
	}
	logPath := filepath.Join(s.dir, "local.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	exe := bin
	if s.netns != "" {
		exe = "ip" // which execs bin in the namespace: the same process
	}
	if s.cpus != "" {
		// taskset execs the rest: the same process, its threads and children bound.
		args = append([]string{"-c", s.cpus, exe}, args...)
		exe = "taskset"
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting site %s: %v", s.name, err)
	}
	st := &site{siteSpec: s, cmd: cmd, pids: map[string]int{}, log: logPath, done: make(chan struct{})}
	ready := make(chan string, 1)
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(out)
		manager := ""
		for sc.Scan() {
			line := sc.Text()
			f := strings.Fields(line)
			switch {
			case len(f) >= 3 && f[1] == "pid" && strings.HasPrefix(f[0], "p"):
				pid, _ := strconv.Atoi(f[2])
				mu.Lock()
				st.pids[f[0]] = pid
				mu.Unlock()
			case strings.HasPrefix(line, "manager "):
				manager = strings.TrimPrefix(line, "manager ")
			case line == "ready":
				ready <- manager
			}
		}
		close(ready)
		_ = cmd.Wait()
		close(st.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-st.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-st.done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("site %s's log, last 4000 bytes:\n%s", s.name, b[max(0, len(b)-4000):])
		}
	})
	select {
	case m, ok := <-ready:
		if !ok {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("site %s exited before it was ready:\n%s", s.name, b[max(0, len(b)-4000):])
		}
		st.mgr = api.NewClient(m, s.httpClient(nil))
	case <-time.After(100 * time.Second):
		t.Fatalf("site %s was not ready in 100s", s.name)
	}
	mu.Lock()
	defer mu.Unlock()
	opts := &redis.ClusterOptions{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", s.base+10)}, MaxRedirects: 16}
	if s.netns != "" {
		opts.Dialer = nsDial(s.netns)
	}
	st.rdb = redis.NewClusterClient(opts)
	t.Cleanup(func() { st.rdb.Close() })
	return st
}

// status is the WAN state of partition p's instance k (pP-iK) from its HTTP port.
func (s *site) status(p, k int) (api.WANInstanceStatus, error) {
	var st api.WANInstanceStatus
	c := api.NewClient(fmt.Sprintf("http://127.0.0.1:%d", s.base+1010+p*map[bool]int{true: 2, false: 1}[s.ha]+k), s.httpClient(nil))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.Do(ctx, "GET", "/v1/wan/status", nil, &st)
	return st, err
}

// primaryStatus is the WAN state of partition p's primary.
func (s *site) primaryStatus(p int) (api.WANInstanceStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	parts, err := s.mgr.Partitions(ctx)
	if err != nil {
		return api.WANInstanceStatus{}, err
	}
	for _, pt := range parts {
		if pt.ID == p {
			k := 0
			if strings.HasSuffix(pt.Primary, "-i1") {
				k = 1
			}
			return s.status(p, k)
		}
	}
	return api.WANInstanceStatus{}, fmt.Errorf("no partition %d", p)
}

// signal sends sig to the site's local process (its supervisor and gateway; the data
// instances are its children and keep running). A SIGSTOP returns once the process has
// stopped: kill(2) returns before, and a gateway still running for a moment could apply
// a batch of the writes a test makes next.
func (s *site) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to site %s: %v", sig, s.name, err)
	}
	if sig == syscall.SIGSTOP {
		stat := fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid)
		testutil.Eventually(t, 10*time.Second, "site "+s.name+"'s process stopped", func() bool {
			f := statFields(stat)
			return len(f) > 0 && f[0] == "T"
		})
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// values reads keys at s in one pipeline: absent keys are "".
func (s *site) values(ctx context.Context, keys []string) (map[string]string, error) {
	cmds := make([]*redis.StringCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return nil, err
	}
	out := make(map[string]string, len(keys))
	for i, k := range keys {
		v, err := cmds[i].Result()
		if err != nil && err != redis.Nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// getGateway reads the site's gateway status over HTTPS, trusting the site's CA.
func getGateway(ctx context.Context, s *site, v any) error {
	body, err := get(ctx, s, "https://"+s.gateway()+api.PathWANStatus)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(body), v)
}

// get is the body of a GET of url; with s, over HTTPS trusting s's CA.
func get(ctx context.Context, s *site, url string) (string, error) {
	hc := &http.Client{Timeout: 10 * time.Second}
	if s != nil {
		pem, err := os.ReadFile(filepath.Join(s.dir, "tls", "ca.crt"))
		if err != nil {
			return "", err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		hc = s.httpClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
		hc.Timeout = 10 * time.Second
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// grepLines is the lines of text containing sub.
func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// holdsNumbered reports whether s holds k:i = i for every i below n, as the tests write them.
func (s *site) holdsNumbered(ctx context.Context, n int) bool {
	keys := numberedKeys(n)
	got, err := s.values(ctx, keys)
	if err != nil {
		return false
	}
	for i, k := range keys {
		if got[k] != fmt.Sprint(i) {
			return false
		}
	}
	return true
}

// numberedKeys are k:0 … k:n-1.
func numberedKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k:%d", i)
	}
	return keys
}

// wanNet is two sites' network namespaces joined through a third, the router, as two
// sites are joined by a WAN: A (192.0.2.1) — router (192.0.2.2 | 192.0.2.5) — B
// (192.0.2.6). The addresses exist only inside the test's namespaces. Cutting the link
// adds blackhole routes in the router, which drops the packets silently as a broken WAN
// does: a connection attempt hangs, a connection in use stops getting acknowledgements,
// nothing is refused (a blackhole route at the sender would fail its calls at once).
type wanNet struct {
	t            *testing.T
	a, b, router string // namespace names
	ipA, ipB     string
	cut          bool
}

// ipCmd runs ip with args and returns its combined output on failure.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newWANNet builds the network, or skips t when this machine cannot (no ip, no permission
// for network namespaces, no veth). It is removed when t ends, after the sites started
// later (cleanups run last-in first-out).
func newWANNet(t *testing.T) *wanNet {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the ip command (iproute2) is missing: cannot build network namespaces to cut the sites' link; skipping")
	}
	var id [3]byte
	_, _ = rand.Read(id[:])
	tag := hex.EncodeToString(id[:])
	n := &wanNet{t: t, a: "iwan-" + tag + "-a", b: "iwan-" + tag + "-b", router: "iwan-" + tag + "-r", ipA: "192.0.2.1", ipB: "192.0.2.6"}
	if err := ipCmd("netns", "add", n.router); err != nil {
		t.Skipf("creating a network namespace is not permitted here (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(n.remove)
	steps := [][]string{
		{"netns", "add", n.a},
		{"netns", "add", n.b},
		{"-n", n.a, "link", "add", "eth0", "type", "veth", "peer", "name", "ra", "netns", n.router},
		{"-n", n.b, "link", "add", "eth0", "type", "veth", "peer", "name", "rb", "netns", n.router},
		{"-n", n.a, "addr", "add", n.ipA + "/30", "dev", "eth0"},
		{"-n", n.router, "addr", "add", "192.0.2.2/30", "dev", "ra"},
		{"-n", n.router, "addr", "add", "192.0.2.5/30", "dev", "rb"},
		{"-n", n.b, "addr", "add", n.ipB + "/30", "dev", "eth0"},
	}
	for _, l := range [][2]string{{n.a, "eth0"}, {n.b, "eth0"}, {n.router, "ra"}, {n.router, "rb"}, {n.a, "lo"}, {n.b, "lo"}} {
		steps = append(steps, []string{"-n", l[0], "link", "set", "dev", l[1], "up"})
	}
	steps = append(steps,
		[]string{"-n", n.a, "route", "add", "default", "via", "192.0.2.2"},
		[]string{"-n", n.b, "route", "add", "default", "via", "192.0.2.5"},
	)
	for _, st := range steps {
		if err := ipCmd(st...); err != nil {
			t.Skipf("cannot build the test network (veth, routes): %v", err)
		}
	}
	if out, err := exec.Command("ip", "netns", "exec", n.router, "sh", "-c", "echo 1 >/proc/sys/net/ipv4/ip_forward").CombinedOutput(); err != nil {
		t.Skipf("cannot turn forwarding on in the router namespace: %v: %s", err, out)
	}
	t.Logf("test network: %s (%s) — router %s — %s (%s)", n.a, n.ipA, n.router, n.b, n.ipB)
	return n
}

// place runs s in namespace A and o in B, their gateways on the namespaces' addresses.
func (n *wanNet) place(s, o *siteSpec) {
	s.netns, s.wanIP = n.a, n.ipA
	o.netns, o.wanIP = n.b, n.ipB
}

// cutLink drops every packet between A and B in the router, and nothing else.
func (n *wanNet) cutLink() {
	n.t.Helper()
	for _, ip := range []string{n.ipA, n.ipB} {
		if err := ipCmd("-n", n.router, "route", "add", "blackhole", ip+"/32"); err != nil {
			n.t.Fatal(err)
		}
	}
	n.cut = true
}

func (n *wanNet) healLink() {
	n.t.Helper()
	for _, ip := range []string{n.ipA, n.ipB} {
		if err := ipCmd("-n", n.router, "route", "del", "blackhole", ip+"/32"); err != nil {
			n.t.Fatal(err)
		}
	}
	n.cut = false
}

// remove deletes the namespaces; their veths go with them.
func (n *wanNet) remove() {
	for _, ns := range []string{n.a, n.b, n.router} {
		if err := ipCmd("netns", "del", ns); err != nil {
			n.t.Logf("cleanup: %v", err)
		}
	}
}

// nsDial dials from inside the named network namespace: the socket is made on a thread
// moved into it (a socket stays in the namespace it was made in), then the thread moves
// back. A thread that cannot move back is never reused (it stays locked and ends with
// its goroutine).
func nsDial(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			c, restored, err := dialIn(ctx, ns, network, addr)
			if restored {
				runtime.UnlockOSThread()
			}
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// dialIn dials addr from namespace ns on the calling (locked) thread and reports whether
// the thread is back in its own namespace.
func dialIn(ctx context.Context, ns, network, addr string) (net.Conn, bool, error) {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, true, fmt.Errorf("this thread's network namespace: %w", err)
	}
	defer self.Close()
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		return nil, true, fmt.Errorf("network namespace %s: %w", ns, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("entering network namespace %s: %w", ns, err)
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err2 := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err2 != nil {
		if c != nil {
			c.Close()
		}
		return nil, false, fmt.Errorf("leaving network namespace %s: %w", ns, err2)
	}
	return c, true, err
}

// statFields are the fields of a /proc/.../stat file after the command's ")": the state
// first, then the parent's PID, ...; nil if it cannot be read (the process ended).
func statFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
}
