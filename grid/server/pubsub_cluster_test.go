package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/store"
)

// gridNode is one server of an in-process grid.
type gridNode struct {
	id   string
	addr string
	s    *Server
	dial func() *testClient
}

// startGrid starts a server for each of ids (instance IDs of a two-partition grid whose
// partition 0 has a backup), each with the view that registers all of them at their
// listeners plus extra (ID → address, for peers that are not servers).
func startGrid(t *testing.T, pass string, extra map[string]string, ids ...string) []*gridNode {
	t.Helper()
	nodes := make([]*gridNode, len(ids))
	lns := make([]net.Listener, len(ids))
	for i, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		s, err := New(Config{Replication: Standalone{}, RequirePass: pass, ProtoMaxBulkLen: 8 << 20}, store.New(1<<20), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		nodes[i] = &gridNode{id: id, addr: addr, s: s, dial: func() *testClient {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			c := &testClient{t: t, nc: nc, br: bufio.NewReader(nc)}
			if pass != "" {
				want(t, "AUTH", c.call("AUTH", pass), "OK")
			}
			return c
		}}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Close(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	addrs := map[string]string{}
	for id, a := range extra {
		addrs[id] = a
	}
	for _, n := range nodes {
		addrs[n.id] = n.addr
	}
	for i, n := range nodes {
		n.s.SetView(gridView(t, addrs, n.id))
		go func() { _ = n.s.Serve(lns[i]) }()
	}
	return nodes
}

// gridView is self's view of a two-partition grid (partition 0 with a backup) whose
// registered instances are addrs (ID → RESP address).
func gridView(t *testing.T, addrs map[string]string, self string) *cluster.View {
	t.Helper()
	m, err := cluster.NewPartitionMap(2, false)
	if err != nil {
		t.Fatal(err)
	}
	st := &cluster.State{Map: m, Records: map[int]cluster.Record{0: cluster.InitialRecord(0, true), 1: cluster.InitialRecord(1, false)},
		Instances: map[string]cluster.Instance{}}
	for id, a := range addrs {
		var p, i int
		if _, err := fmt.Sscanf(id, "p%d-i%d", &p, &i); err != nil {
			t.Fatalf("instance id %q: %v", id, err)
		}
		st.Instances[id] = cluster.Instance{ID: id, Partition: p, Instance: i, Address: a}
	}
	v, err := cluster.BuildView(st, self)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// infoField is field of INFO's stats on c.
func infoField(t *testing.T, c *testClient, field string) string {
	t.Helper()
	info, _ := c.call("INFO", "stats").(string)
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO stats has no %s:\n%s", field, info)
	return ""
}

// TestPublishReachesEveryInstance checks that a classic PUBLISH on any instance, a backup
// included, reaches the channel and pattern subscribers of every instance exactly once and
// in order, while its reply counts the receiving instance's subscribers only.
func TestPublishReachesEveryInstance(t *testing.T) {
	for _, pass := range []string{"", "s3cret"} {
		t.Run("requirepass="+pass, func(t *testing.T) {
			nodes := startGrid(t, pass, nil, "p0-i0", "p0-i1", "p1-i0")
			subs := make([]*testClient, len(nodes))
			for i, n := range nodes {
				subs[i] = n.dial()
				want(t, "SUBSCRIBE", subs[i].call("SUBSCRIBE", "news"), arr("subscribe", "news", int64(1)))
			}
			psub := nodes[2].dial()
			want(t, "PSUBSCRIBE", psub.call("PSUBSCRIBE", "n*"), arr("psubscribe", "n*", int64(1)))
			const burst = 1000
			for from, n := range nodes {
				pub := n.dial()
				var b strings.Builder
				for i := range burst {
					b.WriteString(encodeCmd("PUBLISH", "news", fmt.Sprintf("%d:%d", from, i)))
				}
				b.WriteString(encodeCmd("PUBLISH", "news", "end"))
				if _, err := pub.nc.Write([]byte(b.String())); err != nil {
					t.Fatal(err)
				}
				local := int64(1)
				if from == 2 {
					local = 2 // the pattern subscriber too
				}
				for i := range burst + 1 {
					want(t, fmt.Sprintf("reply %d of PUBLISH on %s", i, n.id), pub.readAny(), local)
				}
				// Each subscriber gets the burst in order, then "end": nothing twice.
				for i, sub := range subs {
					for j := range burst {
						want(t, fmt.Sprintf("message %d on %s from %s", j, nodes[i].id, n.id), sub.readAny(), arr("message", "news", fmt.Sprintf("%d:%d", from, j)))
					}
					want(t, fmt.Sprintf("last message on %s from %s", nodes[i].id, n.id), sub.readAny(), arr("message", "news", "end"))
				}
				for j := range burst {
					want(t, fmt.Sprintf("pmessage %d from %s", j, n.id), psub.readAny(), arr("pmessage", "n*", "news", fmt.Sprintf("%d:%d", from, j)))
				}
				want(t, "last pmessage", psub.readAny(), arr("pmessage", "n*", "news", "end"))
			}
			for _, n := range nodes {
				if got := infoField(t, n.dial(), "pubsub_forward_dropped"); got != "0" {
					t.Errorf("%s: pubsub_forward_dropped %s, want 0", n.id, got)
				}
			}
		})
	}
}

// TestPublishLocalIsNotForwarded checks the internal command: it delivers to the
// instance's own subscribers, is never forwarded (so forwarding cannot loop), and needs
// AUTH and the right arity like any command.
func TestPublishLocalIsNotForwarded(t *testing.T) {
	nodes := startGrid(t, "pw", nil, "p0-i0", "p1-i0")
	subA, subB := nodes[0].dial(), nodes[1].dial()
	want(t, "SUBSCRIBE", subA.call("SUBSCRIBE", "c"), arr("subscribe", "c", int64(1)))
	want(t, "SUBSCRIBE", subB.call("SUBSCRIBE", "c"), arr("subscribe", "c", int64(1)))
	pub := nodes[1].dial()
	want(t, "PUBLISHLOCAL", pub.call("PUBLISHLOCAL", "c", "here only"), int64(1))
	want(t, "PUBLISH", pub.call("PUBLISH", "c", "everywhere"), int64(1))
	want(t, "local subscriber", subB.readAny(), arr("message", "c", "here only"))
	want(t, "local subscriber", subB.readAny(), arr("message", "c", "everywhere"))
	// Had PUBLISHLOCAL been forwarded, it would reach A before the PUBLISH after it.
	want(t, "peer subscriber", subA.readAny(), arr("message", "c", "everywhere"))

	want(t, "arity", pub.call("PUBLISHLOCAL", "c"), "-ERR wrong number of arguments for 'publishlocal' command")
	nc, err := net.Dial("tcp", nodes[0].addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	anon := &testClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	want(t, "without AUTH", anon.call("PUBLISHLOCAL", "c", "x"), "-NOAUTH Authentication required.")
}

// stalledPeer is a peer that accepts connections and, after the handshake, reads nothing
// until released, then reports the messages of the PUBLISHLOCAL commands it reads.
type stalledPeer struct {
	ln      net.Listener
	release chan struct{}
	msgs    chan string
}

func newStalledPeer(t *testing.T) *stalledPeer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stalledPeer{ln: ln, release: make(chan struct{}), msgs: make(chan string, 1<<16)}
	var wg sync.WaitGroup
	quit := make(chan struct{})
	t.Cleanup(func() { close(quit); ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				br := bufio.NewReader(nc)
				// The handshake (CLIENT SETNAME) is answered; then nothing is read.
				if v, err := readValue(br); err != nil || fmt.Sprint(v) != "[CLIENT SETNAME "+forwardClientName+"]" {
					t.Errorf("handshake %v, %v", v, err)
					return
				}
				if _, err := nc.Write([]byte("+OK\r\n")); err != nil {
					return
				}
				select {
				case <-p.release:
				case <-quit:
					return
				}
				for {
					v, err := readValue(br)
					if err != nil {
						return
					}
					if a, ok := v.([]any); ok && len(a) == 3 && a[0] == "publishlocal" {
						p.msgs <- a[2].(string)
						if _, err := nc.Write([]byte(":0\r\n")); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return p
}

// TestStalledPeerDoesNotBlockPublish checks that a peer that reads nothing never holds up
// PUBLISH: messages past its queue are dropped and counted, and once it reads again it
// gets the new messages, in order.
func TestStalledPeerDoesNotBlockPublish(t *testing.T) {
	peer := newStalledPeer(t)
	nodes := startGrid(t, "", map[string]string{"p1-i0": peer.ln.Addr().String()}, "p0-i0")
	pub := nodes[0].dial()
	big := strings.Repeat("x", 1<<20)
	// The queue holds 8 MiB and the sockets some more: at most a few dozen 1 MiB
	// messages fit before the forwarder drops.
	sent := 0
	for ; sent < 200; sent++ {
		want(t, "PUBLISH", pub.call("PUBLISH", "c", strconv.Itoa(sent)+":"+big), int64(0))
		if infoField(t, pub, "pubsub_forward_dropped") != "0" {
			break
		}
	}
	if sent == 200 {
		t.Fatal("200 messages of 1 MiB to a peer that reads nothing were all queued, none dropped")
	}
	close(peer.release)
	want(t, "PUBLISH after", pub.call("PUBLISH", "c", "after"), int64(0))
	last, delivered := -1, 0
	for {
		var m string
		select {
		case m = <-peer.msgs:
		case <-time.After(30 * time.Second):
			t.Fatal("the released peer did not get the message published after")
		}
		if m == "after" {
			break
		}
		n, err := strconv.Atoi(m[:strings.IndexByte(m, ':')])
		if err != nil || n <= last {
			t.Fatalf("message %.20q after message %d: out of order", m, last)
		}
		last = n
		delivered++
	}
	// Every message before "after" was delivered or dropped and counted.
	dropped, err := strconv.Atoi(infoField(t, pub, "pubsub_forward_dropped"))
	if err != nil || dropped < 1 || delivered+dropped != sent+1 {
		t.Fatalf("pubsub_forward_dropped %d (%v) with %d of %d messages delivered before \"after\"", dropped, err, delivered, sent+1)
	}
}

// TestForwardersFollowTheView checks that the forwarders start and stop as instances join
// and leave the view.
func TestForwardersFollowTheView(t *testing.T) {
	nodes := startGrid(t, "", nil, "p0-i0", "p1-i0")
	a, b := nodes[0], nodes[1]
	peers := func() int {
		f := &a.s.pubsub.forwards
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.peers)
	}
	if n := peers(); n != 1 {
		t.Fatalf("%d forwarders with one peer, want 1", n)
	}
	a.s.SetView(gridView(t, map[string]string{a.id: a.addr}, a.id))
	if n := peers(); n != 0 {
		t.Fatalf("%d forwarders once the peer left the view, want 0", n)
	}
	a.s.SetView(gridView(t, map[string]string{a.id: a.addr, b.id: b.addr}, a.id))
	sub := b.dial()
	want(t, "SUBSCRIBE", sub.call("SUBSCRIBE", "c"), arr("subscribe", "c", int64(1)))
	want(t, "PUBLISH", a.dial().call("PUBLISH", "c", "back"), int64(0))
	want(t, "message on the peer that joined again", sub.readAny(), arr("message", "c", "back"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	a.s.SetView(gridView(t, map[string]string{a.id: a.addr, b.id: b.addr}, a.id))
	if n := peers(); n != 0 {
		t.Fatalf("%d forwarders after Close and a new view, want 0", n)
	}
}

// TestForwarderToAStalledPeerStops checks that a peer leaving the view while its forwarder
// is stuck writing to it (the peer reads nothing) ends the forwarder, whose queue is then
// counted as dropped.
func TestForwarderToAStalledPeerStops(t *testing.T) {
	peer := newStalledPeer(t)
	nodes := startGrid(t, "", map[string]string{"p1-i0": peer.ln.Addr().String()}, "p0-i0")
	a := nodes[0]
	pub := a.dial()
	big := strings.Repeat("x", 1<<20)
	for sent := 0; infoField(t, pub, "pubsub_forward_dropped") == "0"; sent++ {
		if sent == 200 {
			t.Fatal("200 messages of 1 MiB to a peer that reads nothing were all queued, none dropped")
		}
		want(t, "PUBLISH", pub.call("PUBLISH", "c", big), int64(0))
	}
	before := infoField(t, pub, "pubsub_forward_dropped")
	a.s.SetView(gridView(t, map[string]string{a.id: a.addr}, a.id))
	testutil.Eventually(t, 10*time.Second, "the stopped forwarder's queue counted as dropped", func() bool {
		return infoField(t, pub, "pubsub_forward_dropped") != before
	})
}

// TestPublishInTransactionIsForwarded checks that a PUBLISH queued in MULTI reaches the
// other instances when EXEC runs it, and that the internal PUBLISHLOCAL is refused in MULTI.
func TestPublishInTransactionIsForwarded(t *testing.T) {
	nodes := startGrid(t, "", nil, "p0-i0", "p1-i0")
	sub := nodes[1].dial()
	want(t, "SUBSCRIBE", sub.call("SUBSCRIBE", "c"), arr("subscribe", "c", int64(1)))
	pub := nodes[0].dial()
	want(t, "MULTI", pub.call("MULTI"), "OK")
	want(t, "PUBLISH queued", pub.call("PUBLISH", "c", "in exec"), "QUEUED")
	want(t, "EXEC", pub.call("EXEC"), arr(int64(0)))
	want(t, "message on the peer", sub.readAny(), arr("message", "c", "in exec"))
	want(t, "MULTI", pub.call("MULTI"), "OK")
	want(t, "PUBLISHLOCAL in MULTI", pub.call("PUBLISHLOCAL", "c", "x"), "-ERR Command not allowed inside a transaction")
	want(t, "DISCARD", pub.call("DISCARD"), "OK")
}
