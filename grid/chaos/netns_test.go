package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/internal/ports"
)

// testNet is a network the test builds from network namespaces: a hub namespace holding
// a bridge, and veth pairs to it from the root namespace (10.213.X.1: manager, partition
// 1, clients), namespace A (10.213.X.2: p0-i0) and namespace B (10.213.X.3: p0-i1). All
// four addresses share one L2 segment, so the root namespace reaches A and B without
// forwarding, and the host's own interfaces are not touched. Cutting the link adds
// blackhole routes for each other's address inside A and B only.
type testNet struct {
	t              *testing.T
	hub, a, b      string // namespace names
	rootVeth       string // the root namespace's end of its veth to the hub
	root, ipA, ipB string // addresses
	cidr           string
	cut, ready     bool
}

// ipCmd runs ip with args and returns its combined output on failure.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newTestNet builds the network, or skips t when this machine cannot (no ip, no
// permission for network namespaces, no veth or bridge support). It is removed when t ends.
func newTestNet(t *testing.T) *testNet {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the ip command (iproute2) is missing: cannot build network namespaces to cut a link; skipping")
	}
	var id [3]byte
	_, _ = rand.Read(id[:])
	tag := hex.EncodeToString(id[:])
	octet, err := freeSubnet()
	if err != nil {
		t.Skipf("no free 10.213.x.0/24 subnet for the test network: %v", err)
	}
	prefix := fmt.Sprintf("10.213.%d.", octet)
	n := &testNet{t: t, hub: "ichaos-" + tag + "-hub", a: "ichaos-" + tag + "-a", b: "ichaos-" + tag + "-b",
		rootVeth: "ic" + tag, root: prefix + "1", ipA: prefix + "2", ipB: prefix + "3", cidr: "/24"}
	if err := ipCmd("netns", "add", n.hub); err != nil {
		t.Skipf("creating a network namespace is not permitted here (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(n.remove)
	steps := [][]string{
		{"netns", "add", n.a},
		{"netns", "add", n.b},
		{"-n", n.hub, "link", "add", "br0", "type", "bridge"},
		{"-n", n.hub, "link", "set", "dev", "br0", "up"},
		{"link", "add", n.rootVeth, "type", "veth", "peer", "name", "hr0", "netns", n.hub},
		{"-n", n.hub, "link", "set", "dev", "hr0", "master", "br0"},
		{"-n", n.hub, "link", "set", "dev", "hr0", "up"},
		{"addr", "add", n.root + n.cidr, "dev", n.rootVeth},
		{"link", "set", "dev", n.rootVeth, "up"},
	}
	for _, x := range []struct{ ns, peer, ip string }{{n.a, "ha0", n.ipA}, {n.b, "hb0", n.ipB}} {
		steps = append(steps,
			[]string{"-n", x.ns, "link", "add", "eth0", "type", "veth", "peer", "name", x.peer, "netns", n.hub},
			[]string{"-n", n.hub, "link", "set", "dev", x.peer, "master", "br0"},
			[]string{"-n", n.hub, "link", "set", "dev", x.peer, "up"},
			[]string{"-n", x.ns, "link", "set", "dev", "lo", "up"},
			[]string{"-n", x.ns, "addr", "add", x.ip + n.cidr, "dev", "eth0"},
			[]string{"-n", x.ns, "link", "set", "dev", "eth0", "up"},
		)
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			t.Skipf("cannot build the test network (veth, bridge): %v", err)
		}
	}
	n.ready = true
	t.Logf("test network: root %s, %s in %s, %s in %s (bridge in %s)", n.root, n.ipA, n.a, n.ipB, n.b, n.hub)
	return n
}

// freeSubnet picks X such that no address or route of the root namespace is in 10.213.X.0/24.
func freeSubnet() (int, error) {
	out, err := exec.Command("ip", "-4", "-o", "route", "show", "table", "all").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ip route: %v: %s", err, out)
	}
	addrs, _ := net.InterfaceAddrs()
	var used strings.Builder
	used.Write(out)
	for _, a := range addrs {
		used.WriteString(" " + a.String())
	}
	var b [1]byte
	for range 100 {
		_, _ = rand.Read(b[:])
		x := 16 + int(b[0])%224
		if !strings.Contains(used.String(), fmt.Sprintf("10.213.%d.", x)) {
			return x, nil
		}
	}
	return 0, fmt.Errorf("every candidate is in use")
}

// cutLink drops all traffic between A and B, and only that.
func (n *testNet) cutLink() error {
	if err := ipCmd("-n", n.a, "route", "add", "blackhole", n.ipB+"/32"); err != nil {
		return err
	}
	n.cut = true
	return ipCmd("-n", n.b, "route", "add", "blackhole", n.ipA+"/32")
}

func (n *testNet) healLink() error {
	err1 := ipCmd("-n", n.a, "route", "del", "blackhole", n.ipB+"/32")
	err2 := ipCmd("-n", n.b, "route", "del", "blackhole", n.ipA+"/32")
	n.cut = false
	if err1 != nil {
		return err1
	}
	return err2
}

// remove deletes the namespaces (their veths go with them) and the root end, if still there.
func (n *testNet) remove() {
	for _, ns := range []string{n.a, n.b, n.hub} {
		if err := ipCmd("netns", "del", ns); err != nil && n.ready {
			n.t.Logf("cleanup: %v", err)
		}
	}
	_ = exec.Command("ip", "link", "del", n.rootVeth).Run()
}

// startNetGrid starts the manager and partition 1 in the root namespace on n.root, and
// p0-i0 in A, p0-i1 in B, each process directly (local binds loopback only). The
// processes are stopped when t ends, before the network is removed.
func startNetGrid(t *testing.T, n *testNet) *Grid {
	t.Helper()
	g, err := newGrid(t)
	if err != nil {
		t.Fatal(err)
	}
	// Ports for the root namespace's processes, on the test's own address.
	base, err := ports.FreeBase(n.root, []int{0, 1, 2, 3, 4, 5, 6}, 65535)
	if err != nil {
		t.Fatal(err)
	}
	ports := make([]int, 7) // etcd client, peer, API, p1-i0 RESP+HTTP, p1-i1 RESP+HTTP
	for i := range ports {
		ports[i] = base + i
	}
	hp := func(host string, p int) string { return net.JoinHostPort(host, strconv.Itoa(p)) }
	etcd := hp(n.root, ports[0])
	g.api = "http://" + hp(n.root, ports[2])
	g.inst["p0-i0"] = instAddr{RESP: hp(n.ipA, 6379), HTTP: hp(n.ipA, 8080)}
	g.inst["p0-i1"] = instAddr{RESP: hp(n.ipB, 6379), HTTP: hp(n.ipB, 8080)}
	g.inst["p1-i0"] = instAddr{RESP: hp(n.root, ports[3]), HTTP: hp(n.root, ports[4])}
	g.inst["p1-i1"] = instAddr{RESP: hp(n.root, ports[5]), HTTP: hp(n.root, ports[6])}
	logArgs := []string{"--log-format", "json", "--log-level", "info"}

	type child struct {
		name string
		cmd  *exec.Cmd
		done chan struct{}
	}
	var children []*child
	start := func(name, ns string, args ...string) {
		argv := append([]string{bin}, args...)
		if ns != "" {
			argv = append([]string{"ip", "netns", "exec", ns}, argv...)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		lw := g.lw.writer()
		cmd.Stdout, cmd.Stderr = lw, lw
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", name, err)
		}
		c := &child{name: name, cmd: cmd, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); lw.Close(); close(c.done) }()
		children = append(children, c)
		g.lw.setPid(name, cmd.Process.Pid) // ip netns exec execs the binary: same pid
	}
	t.Cleanup(func() {
		g.thaw()
		// Data instances first (they deregister while etcd runs), then the manager.
		for _, batch := range [][]*child{children[1:], children[:1]} {
			for _, c := range batch {
				_ = c.cmd.Process.Signal(syscall.SIGTERM)
			}
			for _, c := range batch {
				select {
				case <-c.done:
				case <-time.After(15 * time.Second):
					t.Errorf("%s did not stop in 15s after SIGTERM; killing it", c.name)
					_ = c.cmd.Process.Kill()
					<-c.done
				}
			}
		}
	})
	start("manager", "", append([]string{"manager", "--name", "chaos-manager", "--data-dir", t.TempDir(),
		"--bind", n.root, "--advertise-host", n.root,
		"--client-port", strconv.Itoa(ports[0]), "--peer-port", strconv.Itoa(ports[1]), "--http-port", strconv.Itoa(ports[2]), "--metrics-port", "0",
		"--partitions", "2", "--ha", "--etcd-heartbeat", "20ms", "--etcd-election", "200ms"}, logArgs...)...)
	for _, name := range []string{"p0-i0", "p0-i1", "p1-i0", "p1-i1"} {
		var p, i int
		if _, err := fmt.Sscanf(name, "p%d-i%d", &p, &i); err != nil {
			t.Fatal(err)
		}
		a := g.inst[name]
		host, rp, _ := net.SplitHostPort(a.RESP)
		_, httpPort, _ := net.SplitHostPort(a.HTTP)
		args := []string{"data", "--partition", strconv.Itoa(p), "--instance", strconv.Itoa(i),
			"--etcd-endpoints", etcd, "--bind", host, "--advertise-host", host, "--port", rp, "--http-port", httpPort, "--metrics-port", "0",
			"--lease-ttl", leaseTTL.String()}
		if dataReplTimeout {
			args = append(args, "--repl-timeout", "500ms")
		}
		ns := map[string]string{"p0-i0": n.a, "p0-i1": n.b}[name]
		start(name, ns, append(args, logArgs...)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	startAt := time.Now()
	urls := []string{g.api + "/readyz"}
	for _, name := range []string{"p0-i0", "p0-i1", "p1-i0", "p1-i1"} {
		urls = append(urls, "http://"+g.inst[name].HTTP+"/readyz")
	}
	if err := waitFor(ctx, 60*time.Second, "every process of the grid ready", func(ctx context.Context) (bool, string) {
		for _, c := range children {
			select {
			case <-c.done:
				t.Fatalf("%s exited before the grid was ready", c.name)
			default:
			}
		}
		for _, u := range urls {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			resp, err := g.hc.Do(req)
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return false, u + ": " + resp.Status
			}
		}
		return true, ""
	}); err != nil {
		t.Fatal(err)
	}
	if err := g.loadSlots(); err != nil {
		t.Fatal(err)
	}
	t.Logf("grid ready in %s: manager %s, log %s", time.Since(startAt).Round(time.Millisecond), g.api, g.lw.path)
	return g
}

// TestPartitionPrimaryBackupLink cuts the network link between the primary and the
// backup of partition 0 (and nothing else: both still reach etcd and the clients reach
// both) for two lease TTLs, heals it, and does it again. Either the primary records its
// backup out of sync and serves alone, or the backup takes over; either way no
// acknowledged write may be lost and no two instances may serve one epoch. The first cut
// is under light load (a writer at 50 writes a second and the register workload), where
// serving alone must mean acknowledging at once; the second under heavy load.
func TestPartitionPrimaryBackupLink(t *testing.T) {
	needBinary(t)
	n := newTestNet(t)
	g := startNetGrid(t, n)
	ctx := testCtx(t, 150*time.Second)
	before := g.requireHealthy(ctx, t, 0)
	t.Cleanup(func() {
		if n.cut {
			_ = n.healLink()
		}
	})
	reg := g.startRegisters(ctx, t, g.registerKeys(map[int]int{0: 3, 1: 1}), 4)
	light := g.startPacedWriters(ctx, t, 1, "light", 0, lightEvery)
	t.Cleanup(reg.stop)
	t.Cleanup(light.stop)
	waitAcked(ctx, t, light, 0, 50)

	// First cut, light load.
	cutAt, healAt := cutLink(ctx, t, g, n, light, before)
	if e, ok := g.firstEvent(0, cutAt, "backup out of sync", "promoted"); !ok {
		t.Errorf("with the link cut, neither did the primary record its backup out of sync nor did the backup take over")
	} else if settled := e.At.Add(time.Second); settled.Before(healAt) {
		// A second after that, writes go through until the heal, and at once: serving
		// alone is not waiting a repl timeout per write for a backup it cannot reach. The
		// light writer, one write per 20ms, then gets (nearly) all its writes through.
		gap := light.gapIn(0, settled, healAt)
		got, want := light.countIn(0, settled, healAt), int(healAt.Sub(settled)/lightEvery)
		t.Logf("%s %s logged %q; from %s to the heal the light writer's longest gap was %s and %d of about %d writes went through",
			clock(e.At), e.Instance, e.Msg, clock(settled), gap.Round(time.Millisecond), got, want)
		if gap > time.Second {
			t.Errorf("partition 0 did not keep serving with the link cut: %s without an acknowledged write of the light writer between %s (a second after %q) and the heal at %s",
				gap.Round(time.Millisecond), clock(settled), e.Msg, clock(healAt))
		}
		if got < want/2 {
			t.Errorf("partition 0 does not serve alone with the link cut: from %s to the heal the light writer got %d writes through of about %d it sends in that time (writes wait for the unreachable backup)",
				clock(settled), got, want)
		}
	}
	mid, err := g.waitHealthy(ctx, 0, 20*time.Second)
	if err != nil {
		t.Fatalf("after the first heal: %v", err)
	}
	t.Logf("partition 0 in sync again %s after the first heal", time.Since(healAt).Round(time.Millisecond))

	// Second cut, heavy load.
	w := g.startWriters(ctx, t, 6, "w", -1)
	t.Cleanup(w.stop)
	waitAcked(ctx, t, w, 0, 200)
	cut2At, heal2At := cutLink(ctx, t, g, n, w, mid)
	keepLoad(ctx, 2*time.Second)
	w.stop()
	reg.stop()
	light.stop()
	t.Logf("heavy writers: %s", w.summary())
	t.Logf("light writer: %s", light.summary())
	g.logTakeover(t, 0, before.Epoch, cutAt)

	g.checkAfterFault(ctx, t, append(w.all(), light.all()...), reg, w)
	if p, err := g.waitHealthy(ctx, 0, 20*time.Second); err != nil {
		t.Errorf("after the second heal: %v", err)
	} else {
		t.Logf("partition 0 in sync again %s after the second heal (cut at %s): %s", time.Since(heal2At).Round(time.Millisecond), clock(cut2At), p)
	}
}

// lightEvery is the light writer's pace.
const lightEvery = 20 * time.Millisecond

// cutLink cuts the link between partition 0's instances for two lease TTLs while w
// writes, checks that writes resume and that the record does not claim an in-sync
// backup meanwhile, and heals it.
func cutLink(ctx context.Context, t *testing.T, g *Grid, n *testNet, w *writers, before Partition) (cutAt, healAt time.Time) {
	t.Helper()
	if err := n.cutLink(); err != nil {
		t.Fatal(err)
	}
	cutAt = time.Now()
	t.Logf("%s cut the link between p0-i0 (%s) and p0-i1 (%s); partition 0 was %s", clock(cutAt), n.ipA, n.ipB, before)
	waitResumed(ctx, t, w, cutAt, 10*time.Second, "the cut")
	keepLoad(ctx, time.Until(cutAt.Add(2*leaseTTL)))
	if p, err := g.Partition(ctx, 0); err != nil {
		t.Error(err)
	} else {
		t.Logf("partition 0 with the link cut: %s", p)
		if p.InSync {
			t.Errorf("partition 0 claims an in-sync backup while primary and backup cannot reach each other: %s", p)
		}
	}
	if err := n.healLink(); err != nil {
		t.Fatal(err)
	}
	healAt = time.Now()
	t.Logf("%s healed the link", clock(healAt))
	return cutAt, healAt
}
